/**
 * judge: grip.candidates -> grip.verdicts (the paper's step 6, with decontamination and dedup).
 *
 * Dedup needs the seeds (a candidate that copies its seed is rejected) and the problems accepted so
 * far. Both are rebuilt from the logs at start: grip.seeds (then followed, so new seeds count) and
 * the verdicts of this judge configuration in grip.verdicts.
 *
 * One verdict per candidate and configuration: the model calls run concurrently (`handle`), the
 * verdict is settled in the ordered step, one candidate after the other in offset order. There, a
 * candidate that already has a verdict of this configuration (a redelivery after a crash, a second
 * copy delivered while the first was being judged) gets that verdict back unchanged; otherwise the
 * final duplicate check runs against everything accepted before it and the acceptance is recorded.
 * A replay with other judging settings has another judge_config_version, hence new verdict ids.
 *
 * Exactly one instance: the accepted set is the instance's memory; two instances could both accept
 * two near-duplicates judged at the same moment (model calls, not this stage, bound throughput).
 */
import type { Candidate, Seed, Verdict } from '../../schemas/generated/types.ts';
import { loadDecontamination } from '../runtime/benchmarks.ts';
import { createDeduper } from '../../core/dedup/index.ts';
import { ok } from '../runtime/handler.ts';
import { llmStageFlow } from '../runtime/llm-flow.ts';
import { declareStage, readState } from '../runtime/stage.ts';
import { commitVerdict, JUDGE_STAGES, VERIFY_STAGE, judgeCandidate, judgeConfigVersion, judgeModelsFrom, judgeSettingsFrom } from './handler.ts';

export const judge = declareStage<Candidate, Verdict, Verdict>({
  name: 'judge',
  description: 'candidates -> verdicts: decontamination, dedup, three judges with early exit',
  input: 'grip.candidates',
  output: 'grip.verdicts',
  stateLogs: ['grip.seeds', 'grip.verdicts'],
  llmSteps: [VERIFY_STAGE, ...JUDGE_STAGES],
  port: 9405,
  scaling: 'one',
  consumer: (ctx) => llmStageFlow(ctx.settings.concurrency, ctx.llm()),
  async setup(ctx) {
    const { settings } = ctx;
    const llm = ctx.llm();
    const judgeSettings = judgeSettingsFrom(settings);
    const judgeModels = judgeModelsFrom(settings);
    const prompts = settings.domainPack.prompts;
    // A set named in the settings (or a shipped default) that cannot be read stops the service.
    const decontam = await loadDecontamination(settings);
    const version = judgeConfigVersion(judgeSettings, judgeModels, decontam, prompts);
    const deduper = createDeduper({ threshold: settings.dedup.threshold, seed: settings.seed });

    const seeds = await readState<Seed>(ctx, 'grip.seeds', 'judge-seeds', (seed) => deduper.addReference(seed.seed_id, seed.problem), true);
    await seeds.caughtUp;
    const earlier = new Map<string, Verdict>();
    const verdicts = await readState<Verdict>(ctx, 'grip.verdicts', 'judge-verdicts', (v) => {
      if (v.judge_config_version !== version) return;
      earlier.set(v.candidate_id, v);
      if (v.accepted) deduper.add(v.verdict_id, v.problem);
    });
    await verdicts.done;
    ctx.log('info', 'judge state rebuilt', { judge_config_version: version, seeds: seeds.count(), verdicts_of_this_config: earlier.size });

    return {
      handle: async (candidate) => {
        const previous = earlier.get(candidate.candidate_id);
        if (previous) return ok(previous);
        return judgeCandidate(candidate, { llm, settings: judgeSettings, decontam, deduper, judgeModels, now: ctx.now, prompts });
      },
      ordered: async (verdict, candidate) => {
        // A copy of this candidate settled while this one was judged: its verdict stands.
        const previous = earlier.get(candidate.candidate_id);
        if (previous) return ok(previous);
        const settled = commitVerdict(verdict, deduper);
        earlier.set(candidate.candidate_id, settled);
        return ok(settled);
      },
      // Seeds that stopped arriving would let copies of new seeds pass dedup: that is a crash.
      following: seeds.done,
      stop: () => seeds.stop(),
    };
  },
});
