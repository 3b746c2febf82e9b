/**
 * concept-extractor: grip.seeds -> grip.concepts (the paper's steps 1-2). Scales out as a consumer
 * group. The KC registry is shared by every instance through the log grip.kc-registry
 * (shared-registry.ts) and rebuilt from it at start, so it survives restarts and gives every
 * instance, and `grip run`, the same KC ids. Extraction calls run concurrently; merges into the
 * registry run in input order (the ordered step), so a run is reproducible.
 */
import { createKcRegistry } from '../../core/concepts/index.ts';
import { validateSeed } from '../../core/seeds/index.ts';
import type { Seed, SeedConcepts } from '../../schemas/generated/types.ts';
import { dlq } from '../runtime/handler.ts';
import { llmStageFlow } from '../runtime/llm-flow.ts';
import { declareStage } from '../runtime/stage.ts';
import { extractNames, llmSynonymCheck, mergeConcepts, type ExtractedNames } from './handler.ts';
import { SharedKcRegistry } from './shared-registry.ts';

export const conceptExtractor = declareStage<Seed, ExtractedNames, SeedConcepts>({
  name: 'concept-extractor',
  description: 'seeds -> their key concepts, merged into the shared KC registry',
  input: 'grip.seeds',
  output: 'grip.concepts',
  stateLogs: ['grip.kc-registry'],
  sideOutputs: ['grip.kc-registry'],
  llmSteps: ['extract', 'filter', 'synonym'],
  port: 9402,
  scaling: 'any',
  // its messages wait on embeddings as well as on model calls: both hold back admission
  consumer: (ctx) => llmStageFlow(ctx.settings.concurrency, { waiting: () => ctx.llm().waiting() + ctx.embeddings().waiting() }),
  async setup(ctx) {
    const { settings } = ctx;
    const llm = ctx.llm();
    const embeddings = ctx.embeddings();
    const registry = createKcRegistry({
      sameThreshold: settings.kc_merge.same,
      synonymThreshold: settings.kc_merge.synonym,
      maxSynonymChecks: settings.kc_merge.max_synonym_checks,
      search: settings.kc_merge.search,
      seed: settings.seed,
      embed: (names) => embeddings.embed(names),
      synonymCheck: llmSynonymCheck(llm),
    });
    const producer = ctx.transport.producer();
    const shared = new SharedKcRegistry(registry, {
      transport: ctx.transport,
      serde: ctx.serde,
      producer,
      embeddingsModel: settings.embeddingsEndpoint.model,
      embed: (names) => embeddings.embed(names),
      log: ctx.log,
    });
    const t0 = performance.now();
    await shared.start();
    ctx.log('info', 'KC registry rebuilt from grip.kc-registry', { entries: shared.entriesApplied, kcs: registry.size, skipped_other_model: shared.skipped, refused_other_dimension: shared.skippedOtherDimension, seconds: Math.round(performance.now() - t0) / 1000 });
    return {
      handle: async (seed) => {
        // Seeds written by seed-ingest were checked there; a producer of its own may skip that.
        const check = validateSeed({ problem: seed.problem, solution: seed.solution });
        if (!check.ok) return dlq(check.reason, check.message);
        return extractNames(seed, { llm, prompts: settings.domainPack.prompts });
      },
      ordered: (names, seed) => mergeConcepts(seed, names, { llm, registry: shared, now: ctx.now, prompts: settings.domainPack.prompts }),
      // A registry that stopped following the log would hand out stale ids: that is a crash.
      following: shared.following,
      stop: async () => {
        await shared.stop();
        await producer.close();
      },
    };
  },
});
