/**
 * problem-synth: grip.pairs -> grip.candidates (the paper's step 5: problem, difficulty, solution).
 * Stateless apart from the LLM answer cache: scale it out by starting more instances.
 */
import type { Candidate, Combination } from '../../schemas/generated/types.ts';
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
  // Every message waits on model calls: keep enough in flight to fill the endpoints' slots.
  consumer: (settings) => ({ concurrency: settings.concurrency * 2, maxBatchRecords: Math.max(4, settings.concurrency), maxInFlightBatches: 8 }),
  async setup(ctx) {
    const llm = ctx.llm();
    return { handle: (combo) => synthesizeProblem(combo, { llm, now: ctx.now, prompts: ctx.settings.domainPack.prompts }) };
  },
});
