/**
 * problem-synth service: grip.pairs -> grip.candidates. Stateless apart from the LLM answer cache:
 * scale it out by starting more instances (one consumer group).
 */
import type { Candidate, Combination } from '../../schemas/generated/types.ts';
import { runStage } from '../runtime/kafka/index.ts';
import { stageBase, type ServiceStarter } from '../runtime/service.ts';
import { synthesizeProblem } from './handler.ts';

export const startProblemSynth: ServiceStarter = async (ctx) => {
  const llm = ctx.llm();
  const stage = await runStage<Combination, Candidate>({
    ...stageBase(ctx, 'problem-synth'),
    // Every message waits on model calls: keep enough in flight to fill the endpoints' slots.
    concurrency: ctx.settings.concurrency * 2,
    maxBatchRecords: Math.max(4, ctx.settings.concurrency),
    maxInFlightBatches: 8,
    handler: (combo) => synthesizeProblem(combo, { llm, now: Date.now, prompts: ctx.settings.domainPack.prompts }),
  });
  return { healthy: () => stage.healthy(), done: stage.done, stop: () => stage.stop() };
};
