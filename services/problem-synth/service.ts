/**
 * problem-synth service: grip.pairs -> grip.candidates. Stateless apart from the LLM answer cache:
 * scale it out by starting more instances (one consumer group).
 */
import type { Candidate, Combination } from '../../schemas/generated/types.ts';
import { runStage } from '../runtime/kafka/index.ts';
import { llmStageFlow } from '../runtime/llm-flow.ts';
import { stageBase, type ServiceStarter } from '../runtime/service.ts';
import { synthesizeProblem } from './handler.ts';

export const startProblemSynth: ServiceStarter = async (ctx) => {
  const llm = ctx.llm();
  const stage = await runStage<Combination, Candidate>({
    ...stageBase(ctx, 'problem-synth'),
    ...llmStageFlow(ctx.settings.concurrency, llm),
    handler: (combo) => synthesizeProblem(combo, { llm, now: Date.now }),
  });
  return { healthy: () => stage.healthy(), done: stage.done, stop: () => stage.stop() };
};
