/**
 * problem-synth: combination -> candidate. The paper's step 5: the generator writes a new problem
 * that integrates the KCs, a rater assigns its difficulty, and the solver for that difficulty
 * (a larger model for hard problems) solves it.
 */
import { difficultyRating, problemSynthesis, solution, withBoxedAnswer } from '../../core/prompts/index.ts';
import type { Candidate, Combination } from '../../schemas/generated/types.ts';
import { dlqOnModelFailure, idFromInputs, ok, tracedCall, withLineage, type HandlerResult, type PlannedCall } from '../runtime/handler.ts';
import type { LlmClient } from '../runtime/llm.ts';

export interface ProblemSynthDeps {
  llm: LlmClient;
  now: () => number;
}

/** The calls a candidate may make: both solvers, since which one runs depends on an answer. */
const SYNTH_CALLS: PlannedCall[] = [
  ['synthesize', problemSynthesis],
  ['difficulty', difficultyRating],
  ['solve', solution],
  ['solve_hard', solution],
];

/** A candidate's id: its combination and the settings of every call it may make (idFromInputs). */
export function candidateId(combo: Pick<Combination, 'combo_id'>, llm: Pick<LlmClient, 'callSettings'>): string {
  return idFromInputs('candidate', { combo: combo.combo_id }, llm, SYNTH_CALLS);
}

export async function synthesizeProblem(combo: Combination, deps: ProblemSynthDeps): Promise<HandlerResult<Candidate>> {
  return dlqOnModelFailure(async () => {
    const { value, steps } = await withLineage(async () => {
      const problem = (await tracedCall(deps.llm, 'synthesize', problemSynthesis, { kcs: combo.kc_names, relation: combo.relation })).value.problem;
      const difficulty = (await tracedCall(deps.llm, 'difficulty', difficultyRating, { problem })).value.difficulty;
      const solverStage = difficulty === 'hard' ? 'solve_hard' : 'solve';
      const solved = (await tracedCall(deps.llm, solverStage, solution, { problem })).value;
      return { problem, difficulty, solved };
    });
    return ok<Candidate>({
      candidate_id: candidateId(combo, deps.llm),
      combo_id: combo.combo_id,
      relation: combo.relation,
      hop: combo.hop,
      novel: combo.novel,
      kc_ids: combo.kc_ids,
      kc_names: combo.kc_names,
      problem: value.problem,
      difficulty: value.difficulty,
      solution: withBoxedAnswer(value.solved),
      final_answer: value.solved.final_answer,
      lineage: { ...combo.lineage, combo_id: combo.combo_id, steps: [...combo.lineage.steps, ...steps] },
      created_at: deps.now(),
    });
  });
}
