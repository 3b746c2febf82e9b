/**
 * The method's prompts (grip-method.md). Short on purpose: a tiny CPU model serves them in tests.
 */
import { z } from 'zod';
import { defineTemplate } from './template.ts';

const shortText = z.string().trim().min(1);
// Length caps keep a small model from rambling inside a JSON string until it runs out of tokens;
// llama.cpp and vLLM enforce maxLength/maxItems in their JSON-schema grammars.
const kcName = z.string().trim().min(1).max(80);
const reason = z.string().max(200);

// 1. KC extraction, with the paper's five rules; it reads the problem AND its solution.
export const kcExtractionAnswer = z.object({
  kcs: z.array(kcName).min(1).max(5),
  // Repeated names are not refused here (small models repeat themselves and a re-ask rarely helps);
  // the concept extractor keeps the first of each, and the registry merges the rest anyway.
});
export const kcExtraction = defineTemplate({
  name: 'kc_extraction',
  maxTokens: 200,
  system: 'You identify the key mathematical concepts (KCs) a problem and its solution rely on.',
  user: [
    'List 1 to 5 key concepts of this problem. Rules:',
    '1. Use precise mathematical terminology.',
    '2. Each concept must be used in both the problem and the solution.',
    '3. Be specific: a theorem, formula or property, not a broad area.',
    '4. Each concept is atomic; no two concepts say the same thing.',
    '5. No procedures or skills (not "solving equations").',
    '{{problem}}',
    '{{solution}}',
    'Answer with a JSON object whose "kcs" array holds the names of the concepts.',
  ].join('\n'),
  vars: { problem: 'untrusted', solution: 'untrusted' },
  answer: kcExtractionAnswer,
});

// 2. KC quality filter (a smaller model drops vague, wrong or over-detailed KCs).
export const kcFilterAnswer = z.object({
  decisions: z.array(z.object({ kc: kcName, keep: z.boolean(), reason })).min(1).max(5),
});
export const kcFilter = defineTemplate({
  name: 'kc_filter',
  maxTokens: 800,
  system: 'You check key mathematical concepts extracted from a problem.',
  user: [
    'For each listed concept decide whether to keep it. Drop it if it is vague, wrong for this problem,',
    'or too detailed (a specific number or step rather than a concept).',
    '{{problem}}',
    '{{kcs}}',
    'Answer with a JSON object whose "decisions" array has one entry per listed concept: "kc" (its name as listed), "keep" (true or false) and a short "reason".',
  ].join('\n'),
  vars: { problem: 'untrusted', kcs: 'untrusted_list' },
  answer: kcFilterAnswer,
});

// 3. Synonym check for two KCs in the 0.70-0.90 cosine band, plus a representative name.
export const synonymCheckAnswer = z
  .object({ same: z.boolean(), representative: z.string().max(80) })
  .refine((a) => !a.same || a.representative.trim() !== '', { message: 'a representative name is required when same is true', path: ['representative'] });
export const synonymCheck = defineTemplate({
  name: 'synonym_check',
  maxTokens: 100,
  system: 'You decide whether two names denote the same mathematical concept.',
  user: [
    'Do these two names denote the same mathematical concept (synonyms or notational variants)?',
    'A special case, a generalization or a related concept is NOT the same.',
    '{{concept_a}}',
    '{{concept_b}}',
    'If they are the same, give the clearest standard name as representative; otherwise an empty string.',
    'Answer with a JSON object: "same" (true or false) and "representative" (the name to use, or an empty string).',
  ].join('\n'),
  vars: { concept_a: 'untrusted', concept_b: 'untrusted' },
  answer: synonymCheckAnswer,
});

// 4. Problem synthesis from a KC combination; the relation type informs the instruction. No seed examples.
export const RELATION_HINTS: Record<string, string> = {
  '1-hop': 'These concepts often appear together; combine them in a fresh, non-routine way.',
  '2-hop': 'These concepts are linked through a shared concept; build a bridge that makes both essential.',
  '3-hop': 'These concepts are distant; find a natural setting where both are genuinely needed.',
  community: 'These concepts form a closely related group; use all of them in one coherent problem.',
  louvain: 'These concepts come from one region of the concept graph; use all of them in one coherent problem.',
};
// At least a sentence: grammar-constrained decoding then cannot stop at a bare concept name.
export const synthesisAnswer = z.object({ problem: z.string().trim().min(40).max(1500) });
export const problemSynthesis = defineTemplate({
  name: 'problem_synthesis',
  maxTokens: 600,
  system: 'You write new, self-contained mathematics problems.',
  user: [
    'Write one new problem that integrates all of these key concepts organically, so that solving it requires each of them.',
    '{{relation_hint}}',
    '{{kcs}}',
    'The problem must be well posed, have a single verifiable final answer, and include every needed quantity. Do not include the solution.',
    'Answer with a JSON object whose "problem" field holds the full problem statement.',
  ].join('\n'),
  vars: { kcs: 'untrusted_list', relation: 'text' },
  extraText: RELATION_HINTS,
  derive: (vars) => {
    const hint = RELATION_HINTS[vars.relation as string];
    if (!hint) throw new RangeError(`problem_synthesis: unknown relation "${vars.relation}" (expected: ${Object.keys(RELATION_HINTS).join(', ')})`);
    return { relation_hint: hint };
  },
  answer: synthesisAnswer,
});

// 5. Difficulty rating (routes the problem to the small or the large solver).
export const difficultyAnswer = z.object({ difficulty: z.enum(['easy', 'medium', 'hard']), reason });
export const difficultyRating = defineTemplate({
  name: 'difficulty_rating',
  maxTokens: 120,
  system: 'You rate the difficulty of mathematics problems.',
  user: [
    'Rate the difficulty of this problem for a strong high-school competitor:',
    'easy (routine, one or two steps), medium (several steps or one insight), hard (olympiad-style, long or subtle).',
    '{{problem}}',
    'Answer with a JSON object: "difficulty" (easy, medium or hard) and a short "reason".',
  ].join('\n'),
  vars: { problem: 'untrusted' },
  answer: difficultyAnswer,
});

// 6. Solution: step by step, final answer in \boxed{}.
export const solutionAnswer = z.object({
  // The answer's own field is the source of truth; a solution that forgot \boxed{} gets it added by
  // withBoxedAnswer (a re-ask for a missing decoration wastes a call and rarely helps a small model).
  solution: z.string().trim().min(1).max(4000),
  final_answer: z.string().trim().min(1).max(200),
});
export const solution = defineTemplate({
  name: 'solution',
  maxTokens: 1200,
  system: 'You solve mathematics problems carefully.',
  user: [
    'Solve this problem step by step, then state the final answer inside \\boxed{}.',
    '{{problem}}',
    'Answer with a JSON object: "solution" (the worked steps, ending with the answer in \\boxed{}) and "final_answer" (the answer alone).',
  ].join('\n'),
  vars: { problem: 'untrusted' },
  answer: solutionAnswer,
});

// 7. Problem judgement for logical and presentational completeness. The paper's 0-1 score is asked as
// an integer from 0 to 10 and divided by 10 (problemScoreOf): JSON-schema grammars (llama.cpp) enforce
// minimum/maximum on integers but not on decimals, so a model cannot answer "10" meaning 10/10.
export const problemJudgementAnswer = z.object({ score: z.int().min(0).max(10), reason });
export const problemJudgement = defineTemplate({
  name: 'problem_judgement',
  maxTokens: 300,
  system: 'You review mathematics problems before they are used.',
  user: [
    'Score this problem from 0 to 10 for logical and presentational completeness:',
    'is it well posed, consistent, solvable with a unique answer, and clearly stated with every needed quantity?',
    '10 means flawless, 0 means unusable.',
    '{{problem}}',
    'Answer with a JSON object: "score" (a whole number from 0 to 10) and a short "reason".',
  ].join('\n'),
  vars: { problem: 'untrusted' },
  answer: problemJudgementAnswer,
});

/** The judge's answer as the paper's 0-1 problem score. */
export function problemScoreOf(answer: { score: number }): number {
  return answer.score / 10;
}

// 8. Solution judgement: a 0/1 vote; any veto rejects.
export const solutionJudgementAnswer = z.object({ vote: z.number().int().min(0).max(1), reason });
export const solutionJudgement = defineTemplate({
  name: 'solution_judgement',
  maxTokens: 300,
  system: 'You verify solutions to mathematics problems.',
  user: [
    'Is this solution correct and complete, with a correct final answer? Vote 1 for yes, 0 for no.',
    '{{problem}}',
    '{{solution}}',
    'Answer with a JSON object: "vote" (1 or 0) and a short "reason".',
  ].join('\n'),
  vars: { problem: 'untrusted', solution: 'untrusted' },
  answer: solutionJudgementAnswer,
});

/** The solution text with its final answer in \boxed{}, added at the end when the model left it out. */
export function withBoxedAnswer(answer: { solution: string; final_answer: string }): string {
  return /\\boxed\{/.test(answer.solution) ? answer.solution : `${answer.solution}\n\nFinal answer: \\boxed{${answer.final_answer}}`;
}

export const PROMPTS = {
  kc_extraction: kcExtraction,
  kc_filter: kcFilter,
  synonym_check: synonymCheck,
  problem_synthesis: problemSynthesis,
  difficulty_rating: difficultyRating,
  solution,
  problem_judgement: problemJudgement,
  solution_judgement: solutionJudgement,
} as const;

export type PromptName = keyof typeof PROMPTS;

/** name -> version, for lineage records and cache keys. */
export function promptVersions(): Record<PromptName, string> {
  return Object.fromEntries(Object.entries(PROMPTS).map(([k, t]) => [k, t.version])) as Record<PromptName, string>;
}
