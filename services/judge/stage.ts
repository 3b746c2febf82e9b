/**
 * judge: grip.candidates -> grip.verdicts (the paper's step 6, with decontamination and dedup).
 *
 * Dedup needs the seeds (a candidate that copies its seed is rejected) and the problems accepted so
 * far; one verdict per candidate needs the candidates already settled. That state (state.ts) holds
 * hashes and dedup fingerprints, never texts: about 32 bytes per verdict and 1.6 KB per accepted
 * problem (bounded by the deduper's capacity; bench:judge-state). It comes from grip.seeds and the verdicts of this
 * judge configuration in grip.verdicts, both followed for as long as the stage runs.
 *
 * Restarts and takeovers read a checkpoint, not history: the state folded from the logs up to known
 * positions is written to the service's state directory every 50,000 records or 5 minutes and at a
 * graceful stop (runtime/checkpoint.ts); a new active instance reads it and the logs from those
 * positions on. A checkpoint that is missing, damaged, or from another judge configuration or dedup
 * layout is ignored with its reason logged, and the logs are read from their first records.
 *
 * One verdict per candidate and configuration: the model calls run concurrently (`handle`), the
 * verdict is settled in the ordered step, one candidate after the other in offset order. There, a
 * candidate that already has a verdict of this configuration (a redelivery after a crash, a second
 * copy delivered while the first was being judged) is dropped (reason `already_settled`): its
 * verdict is in grip.verdicts already, and writing nothing cannot contradict it. Otherwise the
 * final duplicate check runs against everything accepted before it and the acceptance is recorded.
 * A replay with other judging settings has another judge_config_version, hence new verdict ids.
 *
 * Exactly one instance: the accepted set is the instance's memory; two instances could both accept
 * two near-duplicates judged at the same moment (model calls, not this stage, bound throughput).
 */
import type { Candidate, Seed, Verdict } from '../../schemas/generated/types.ts';
import { Deduper } from '../../core/dedup/index.ts';
import { canonicalJson, shortHash } from '../../core/util/hash.ts';
import { loadDecontamination } from '../runtime/benchmarks.ts';
import { Checkpointer, PositionTracker, restoreCheckpoint, type Positions } from '../runtime/checkpoint.ts';
import { drop, ok } from '../runtime/handler.ts';
import { llmStageFlow } from '../runtime/llm-flow.ts';
import { declareStage, readState, type StageSetupContext } from '../runtime/stage.ts';
import { JUDGE_STAGES, VERIFY_STAGE, judgeCandidate, judgeConfigVersion, judgeModelsFrom, judgeSettingsFrom } from './handler.ts';
import { JUDGE_STATE_FORMAT, JudgeState } from './state.ts';

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
    const dedupOptions = new Deduper({ threshold: settings.dedup.threshold, seed: settings.seed }).options;
    // The checkpoint holds state of this judge configuration and dedup layout only.
    const fingerprint = `${version}-${shortHash(canonicalJson(dedupOptions), 12)}`;

    const { state, positions } = await restore(ctx, version, dedupOptions, fingerprint);
    const tracker = new PositionTracker(positions);
    const checkpointer = new Checkpointer({
      dir: ctx.checkpoints?.dir ?? null,
      everyRecords: ctx.checkpoints?.everyRecords,
      everyMs: ctx.checkpoints?.everyMs,
      stage: 'judge',
      format: JUDGE_STATE_FORMAT,
      fingerprint,
      take: () => ({ positions: tracker.snapshot(), sections: state.exportSections(), facts: { verdicts_of_this_config: state.settledCount } }),
      log: ctx.log,
    });
    const t0 = performance.now();
    // Both logs are followed for as long as the stage runs: seeds so that copies of new seeds are
    // caught; verdicts so that this process's own verdicts move from the pending layer to the
    // checkpointed one once they are in the log.
    const seeds = await readState<Seed>(ctx, 'grip.seeds', 'judge-seeds', (seed, r) => {
      state.applySeed(seed.seed_id, seed.problem);
      tracker.applied(r.topic, r.partition, r.offset);
      checkpointer.applied();
    }, true, tracker.of('grip.seeds'));
    const verdicts = await readState<Verdict>(ctx, 'grip.verdicts', 'judge-verdicts', (v, r) => {
      state.applyVerdict(v);
      tracker.applied(r.topic, r.partition, r.offset);
      checkpointer.applied();
    }, true, tracker.of('grip.verdicts'));
    await Promise.all([seeds.caughtUp, verdicts.caughtUp]);
    ctx.log('info', 'judge state rebuilt', { judge_config_version: version, seeds_read: seeds.count(), verdicts_read: verdicts.count(), verdicts_of_this_config: state.settledCount, seconds: Math.round(performance.now() - t0) / 1000 });
    // after reading a tail, at once (in the background: judging starts now)
    void checkpointer.write();

    return {
      handle: async (candidate) => {
        if (state.isSettled(candidate.candidate_id)) return drop(ALREADY_SETTLED);
        return judgeCandidate(candidate, { llm, settings: judgeSettings, decontam, deduper: state, judgeModels, now: ctx.now, prompts });
      },
      ordered: async (verdict, candidate) => {
        // A copy of this candidate settled while this one was judged: its verdict stands.
        if (state.isSettled(candidate.candidate_id)) return drop(ALREADY_SETTLED);
        return ok(state.settle(verdict));
      },
      // A log that stopped being read would let copies of new seeds pass dedup: that is a crash.
      following: Promise.all([seeds.done, verdicts.done]).then(() => undefined),
      stop: async () => {
        await Promise.all([seeds.stop(), verdicts.stop()]);
        await checkpointer.write();
      },
    };
  },
});

/** The checkpointed state and the positions it covers, or an empty state read from the first records. */
async function restore(ctx: StageSetupContext, version: string, dedupOptions: Deduper['options'], fingerprint: string): Promise<{ state: JudgeState; positions: Positions | undefined }> {
  const admin = ctx.transport.admin();
  const restored = await restoreCheckpoint({
    checkpoints: ctx.checkpoints,
    endOffsets: (topics) => admin.endOffsets(topics),
    stage: 'judge',
    format: JUDGE_STATE_FORMAT,
    fingerprint,
    log: ctx.log,
    load: (checkpoint) => {
      const state = JudgeState.importSections(version, dedupOptions, checkpoint.sections);
      return { state, facts: { verdicts_of_this_config: state.settledCount } };
    },
  }).finally(() => admin.close().catch(() => undefined));
  return restored ?? { state: new JudgeState(version, dedupOptions), positions: undefined };
}
