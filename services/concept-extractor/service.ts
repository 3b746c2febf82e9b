/**
 * concept-extractor service: grip.seeds -> grip.concepts. Scales out as a consumer group; the KC
 * registry is shared by all instances through the grip.kc-registry log (shared-registry.ts) and
 * rebuilt from it on start, so it survives restarts and gives every instance the same KC ids.
 */
import { createKcRegistry } from '../../core/concepts/index.ts';
import { validateSeed } from '../../core/seeds/index.ts';
import type { Seed, SeedConcepts } from '../../schemas/generated/types.ts';
import { dlq } from '../runtime/handler.ts';
import { runStage } from '../runtime/kafka/index.ts';
import { llmStageFlow } from '../runtime/llm-flow.ts';
import { stageBase, type ServiceStarter } from '../runtime/service.ts';
import { extractConcepts, llmSynonymCheck } from './handler.ts';
import { SharedKcRegistry } from './shared-registry.ts';

export const startConceptExtractor: ServiceStarter = async (ctx) => {
  const { settings } = ctx;
  const llm = ctx.llm();
  const embeddings = ctx.embeddings();
  const registry = createKcRegistry({
    sameThreshold: settings.kc_merge.same,
    synonymThreshold: settings.kc_merge.synonym,
    maxSynonymChecks: settings.kc_merge.max_synonym_checks,
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
  });
  await shared.start();
  ctx.log('info', 'KC registry rebuilt from grip.kc-registry', { entries: shared.entriesApplied, kcs: registry.size, skipped_other_model: shared.skipped });

  const stage = await runStage<Seed, SeedConcepts>({
    ...stageBase(ctx, 'concept-extractor'),
    // its messages wait on embeddings as well as on model calls: both hold back admission
    ...llmStageFlow(settings.concurrency, { waiting: () => llm.waiting() + embeddings.waiting() }),
    handler: async (seed) => {
      // Seeds written by seed-ingest were checked there; a producer of its own may skip that.
      const check = validateSeed({ problem: seed.problem, solution: seed.solution });
      if (!check.ok) return dlq(check.reason, check.message);
      return extractConcepts(seed, { llm, registry: shared, now: Date.now });
    },
  });
  // A registry that stopped following the log would hand out stale ids: that is a crash.
  const done = Promise.race([stage.done, shared.following.then(() => stage.done)]);
  return {
    healthy: () => stage.healthy(),
    done,
    stop: async () => {
      await stage.stop();
      await shared.stop();
      await producer.close();
    },
  };
};
