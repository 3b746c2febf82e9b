/**
 * problem-synth: grip.pairs -> grip.candidates (the paper's step 5: problem, difficulty, solution).
 * Stateless apart from the LLM answer cache: scale it out by starting more instances.
 */
import type { Candidate, Combination } from '../../schemas/generated/types.ts';
import { llmStageFlow } from '../runtime/llm-flow.ts';
import { declareStage } from '../runtime/stage.ts';
import { synthesizeProblem } from './handler.ts';

export const problemSynth = declareStage<Combination, Candidate, Candidate>({
  name: 'problem-synth',
  description: 'combinations -> a new problem, its difficulty and a solution',
  input: 'grip.pairs',
  output: 'grip.candidates',
  llmSteps: ['synthesize', 'difficulty', 'solve', 'solve_hard'],
  port: 9404,
  scaling: 'any',
  // Every message waits on model calls: admitted as the endpoints take more (llm-flow.ts).
  consumer: (ctx) => llmStageFlow(ctx.settings.concurrency, ctx.llm()),
  async setup(ctx) {
    const llm = ctx.llm();
    return { handle: (combo) => synthesizeProblem(combo, { llm, now: ctx.now, prompts: ctx.settings.domainPack.prompts }) };
  },
});
