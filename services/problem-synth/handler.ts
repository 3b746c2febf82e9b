/**
 * problem-synth: combination -> candidate. The paper's step 5: the generator writes a new problem
 * that integrates the KCs, a rater assigns its difficulty, and the solver for that difficulty
 * (a larger model for hard problems) solves it.
 */
import type { Relation } from '../../core/combos/index.ts';
import { PROMPTS, type PromptSet } from '../../core/prompts/index.ts';
import type { Candidate, Combination } from '../../schemas/generated/types.ts';
import { dlq, dlqOnModelFailure, idFromInputs, ok, tracedCall, withLineage, type HandlerResult, type PlannedCall } from '../runtime/handler.ts';
import type { LlmClient } from '../runtime/llm.ts';

export interface ProblemSynthDeps {
  llm: LlmClient;
  now: () => number;
  /** The domain's prompts (settings.domain); default: the plain ones. */
  prompts?: PromptSet;
}

/**
 * A candidate's id: its combination and the settings of every call it may make (idFromInputs): the
 * relation's synthesis prompt, the rater, and both solvers, since which one runs depends on an answer.
 */
export function candidateId(combo: Pick<Combination, 'combo_id' | 'relation'>, llm: Pick<LlmClient, 'callSettings'>, prompts: PromptSet = PROMPTS): string {
  const plan: PlannedCall[] = [
    ['synthesize', prompts.problem_synthesis[combo.relation as Relation]],
    ['difficulty', prompts.difficulty_rating],
    ['solve', prompts.solution],
    ['solve_hard', prompts.solution],
  ];
  return idFromInputs('candidate', { combo: combo.combo_id }, llm, plan);
}

export async function synthesizeProblem(combo: Combination, deps: ProblemSynthDeps): Promise<HandlerResult<Candidate>> {
  return dlqOnModelFailure(async () => {
    const prompts = deps.prompts ?? PROMPTS;
    const synthesis = prompts.problem_synthesis[combo.relation as Relation];
    // A combination of a relation this version has no prompt for is bad input, not a crash.
    if (!synthesis) return dlq('unknown_relation', `unknown relation "${combo.relation}" (expected: ${Object.keys(prompts.problem_synthesis).join(', ')})`);
    const { value, steps } = await withLineage(async () => {
      const problem = (await tracedCall(deps.llm, 'synthesize', synthesis, { kcs: combo.kc_names })).value.problem;
      const difficulty = (await tracedCall(deps.llm, 'difficulty', prompts.difficulty_rating, { problem })).value.difficulty;
      const solverStage = difficulty === 'hard' ? 'solve_hard' : 'solve';
      const solved = (await tracedCall(deps.llm, solverStage, prompts.solution, { problem })).value;
      return { problem, difficulty, solved };
    });
    return ok<Candidate>({
      candidate_id: candidateId(combo, deps.llm, prompts),
      combo_id: combo.combo_id,
      relation: combo.relation,
      hop: combo.hop,
      novel: combo.novel,
      kc_ids: combo.kc_ids,
      kc_names: combo.kc_names,
      problem: value.problem,
      difficulty: value.difficulty,
      solution: prompts.finishSolution(value.solved),
      final_answer: value.solved.final_answer,
      lineage: { ...combo.lineage, combo_id: combo.combo_id, steps: [...combo.lineage.steps, ...steps] },
      created_at: deps.now(),
    });
  });
}
