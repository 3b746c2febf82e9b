/**
 * judge service: grip.candidates -> grip.verdicts.
 *
 * Dedup needs the seeds (a candidate that copies its seed is rejected) and the problems accepted so
 * far. Both are rebuilt from the logs on start: grip.seeds (then followed, so new seeds count) and
 * the verdicts of this judge configuration in grip.verdicts. A candidate that already has a verdict
 * of this configuration (redelivered after a crash) gets that verdict again, unchanged and without
 * model calls: its own acceptance must not make it a duplicate of itself. A replay with other
 * judging settings has another judge_config_version, hence new verdict ids beside the old ones.
 *
 * Scale-out: several instances each keep their own accepted set, so two near-duplicates judged at
 * the same moment by two instances can both pass; run one instance where that matters (the
 * model calls, not this stage, bound throughput; raise `concurrency` instead).
 */
import fs from 'node:fs';
import { createNgramIndex } from '../../core/decontam/index.ts';
import { createDeduper } from '../../core/dedup/index.ts';
import type { Candidate, Seed, Verdict } from '../../schemas/generated/types.ts';
import { loadBenchmarks } from '../runtime/benchmarks.ts';
import { ok } from '../runtime/handler.ts';
import { readLog, runStage } from '../runtime/kafka/index.ts';
import { llmStageFlow } from '../runtime/llm-flow.ts';
import { stageBase, type ServiceStarter } from '../runtime/service.ts';
import { commitVerdict, judgeCandidate, judgeConfigVersion, judgeModelsFrom, judgeSettingsFrom } from './handler.ts';

export const startJudge: ServiceStarter = async (ctx) => {
  const { settings } = ctx;
  const llm = ctx.llm();
  const judgeSettings = judgeSettingsFrom(settings);
  const judgeModels = judgeModelsFrom(settings);
  const version = judgeConfigVersion(judgeSettings, judgeModels);
  const specs = settings.defaultBenchmarks
    ? settings.benchmarks.filter((b) => fs.existsSync(b.file) || (ctx.log('warn', 'decontamination set not found; skipped', { source: b.source, file: b.file }), false))
    : settings.benchmarks;
  const decontam = createNgramIndex(await loadBenchmarks(specs));
  const deduper = createDeduper({ threshold: settings.dedup.threshold, seed: settings.seed });

  const seeds = await readLog<Seed>({
    transport: ctx.transport,
    serde: ctx.serde,
    topic: 'grip.seeds',
    name: 'judge-seeds',
    follow: true,
    onValue: (seed) => deduper.addReference(seed.seed_id, seed.problem),
  });
  await seeds.caughtUp;
  const earlier = new Map<string, Verdict>();
  const verdicts = await readLog<Verdict>({
    transport: ctx.transport,
    serde: ctx.serde,
    topic: 'grip.verdicts',
    name: 'judge-verdicts',
    onValue: (v) => {
      if (v.judge_config_version !== version) return;
      earlier.set(v.candidate_id, v);
      if (v.accepted) deduper.add(v.verdict_id, v.problem);
    },
  });
  await verdicts.done;
  ctx.log('info', 'judge state rebuilt', { judge_config_version: version, seeds: seeds.count(), verdicts_of_this_config: earlier.size });

  const stage = await runStage<Candidate, Verdict>({
    ...stageBase(ctx, 'judge'),
    ...llmStageFlow(settings.concurrency, llm),
    handler: async (candidate) => {
      const previous = earlier.get(candidate.candidate_id);
      if (previous) return ok(previous);
      const result = await judgeCandidate(candidate, { llm, settings: judgeSettings, decontam, deduper, judgeModels, now: Date.now });
      if (result.kind !== 'ok') return result;
      // The final duplicate check and the acceptance are one synchronous step (no await between).
      const verdict = commitVerdict(result.value, deduper);
      earlier.set(candidate.candidate_id, verdict);
      return ok(verdict);
    },
  });
  // Seeds that stopped arriving would let copies of new seeds pass dedup: that is a crash.
  const done = Promise.race([stage.done, seeds.done.then(() => stage.done)]);
  return {
    healthy: () => stage.healthy(),
    done,
    stop: async () => {
      await stage.stop();
      await seeds.stop();
    },
  };
};
