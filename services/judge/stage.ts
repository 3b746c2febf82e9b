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
 * copy delivered while the first was being judged) is dropped (reason `already_settled`): its
 * verdict is in grip.verdicts already, and writing nothing cannot contradict it. Otherwise the
 * final duplicate check runs against everything accepted before it and the acceptance is recorded.
 * A replay with other judging settings has another judge_config_version, hence new verdict ids.
 *
 * State bounded by what deciding a verdict needs, never by the texts judged: per verdict, the
 * 64-bit hash of its candidate id (HashSet64, 16-32 bytes); per accepted problem, its dedup
 * fingerprint (the deduper's bounded LSH store, about 1 KB, oldest evicted past its capacity).
 * Verdict texts are read at start only to fingerprint the accepted problems, then let go.
 *
 * Exactly one instance: the accepted set is the instance's memory; two instances could both accept
 * two near-duplicates judged at the same moment (model calls, not this stage, bound throughput).
 */
import type { Candidate, Seed, Verdict } from '../../schemas/generated/types.ts';
import { loadDecontamination } from '../runtime/benchmarks.ts';
import { HashSet64, idHash } from '../../core/combos/index.ts';
import { createDeduper } from '../../core/dedup/index.ts';
import { drop, ok } from '../runtime/handler.ts';
import { llmStageFlow } from '../runtime/llm-flow.ts';
import { declareStage, readState } from '../runtime/stage.ts';
import { commitVerdict, JUDGE_STAGES, VERIFY_STAGE, judgeCandidate, judgeConfigVersion, judgeModelsFrom, judgeSettingsFrom } from './handler.ts';

/** Drop reason of a candidate whose verdict of this configuration is already in grip.verdicts. */
export const ALREADY_SETTLED = 'already_settled';

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
    // Candidates with a verdict of this configuration, as hashes of their ids (never the verdicts).
    const settled = new HashSet64(1 << 16);
    const isSettled = (candidateId: string) => settled.has(...idHash(candidateId));
    const verdicts = await readState<Verdict>(ctx, 'grip.verdicts', 'judge-verdicts', (v) => {
      if (v.judge_config_version !== version) return;
      settled.add(...idHash(v.candidate_id));
      if (v.accepted) deduper.add(v.verdict_id, v.problem);
    });
    await verdicts.done;
    ctx.log('info', 'judge state rebuilt', { judge_config_version: version, seeds: seeds.count(), verdicts_of_this_config: settled.size });

    return {
      handle: async (candidate) => {
        if (isSettled(candidate.candidate_id)) return drop(ALREADY_SETTLED);
        return judgeCandidate(candidate, { llm, settings: judgeSettings, decontam, deduper, judgeModels, now: ctx.now, prompts });
      },
      ordered: async (verdict, candidate) => {
        // A copy of this candidate settled while this one was judged: its verdict stands.
        if (isSettled(candidate.candidate_id)) return drop(ALREADY_SETTLED);
        const committed = commitVerdict(verdict, deduper);
        settled.add(...idHash(candidate.candidate_id));
        return ok(committed);
      },
      // Seeds that stopped arriving would let copies of new seeds pass dedup: that is a crash.
      following: seeds.done,
      stop: () => seeds.stop(),
    };
  },
});
