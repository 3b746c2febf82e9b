/**
 * The method's prompts (grip-method.md). Short on purpose: a tiny CPU model serves them in tests.
 */
import { z } from 'zod';
import { defineTemplate } from './template.ts';

const shortText = z.string().trim().min(1);

// 1. KC extraction, with the paper's five rules; it reads the problem AND its solution.
export const kcExtractionAnswer = z.object({
  kcs: z
    .array(shortText)
    .min(1)
    .max(5)
    .refine((kcs) => new Set(kcs.map((k) => k.toLowerCase())).size === kcs.length, 'key concepts must be distinct'),
});
export const kcExtraction = defineTemplate({
  name: 'kc_extraction',
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
    'Reply with JSON: {"kcs": ["concept", ...]}',
  ].join('\n'),
  vars: { problem: 'untrusted', solution: 'untrusted' },
  answer: kcExtractionAnswer,
});

// 2. KC quality filter (a smaller model drops vague, wrong or over-detailed KCs).
export const kcFilterAnswer = z.object({
  decisions: z.array(z.object({ kc: shortText, keep: z.boolean(), reason: z.string() })).min(1),
});
export const kcFilter = defineTemplate({
  name: 'kc_filter',
  system: 'You check key mathematical concepts extracted from a problem.',
  user: [
    'For each listed concept decide whether to keep it. Drop it if it is vague, wrong for this problem,',
    'or too detailed (a specific number or step rather than a concept).',
    '{{problem}}',
    '{{kcs}}',
    'Reply with JSON: {"decisions": [{"kc": "concept as listed", "keep": true, "reason": "short"}]}, one entry per concept.',
  ].join('\n'),
  vars: { problem: 'untrusted', kcs: 'untrusted_list' },
  answer: kcFilterAnswer,
});

// 3. Synonym check for two KCs in the 0.70-0.90 cosine band, plus a representative name.
export const synonymCheckAnswer = z
  .object({ same: z.boolean(), representative: z.string() })
  .refine((a) => !a.same || a.representative.trim() !== '', { message: 'a representative name is required when same is true', path: ['representative'] });
export const synonymCheck = defineTemplate({
  name: 'synonym_check',
  system: 'You decide whether two names denote the same mathematical concept.',
  user: [
    'Do these two names denote the same mathematical concept (synonyms or notational variants)?',
    'A special case, a generalization or a related concept is NOT the same.',
    '{{concept_a}}',
    '{{concept_b}}',
    'If they are the same, give the clearest standard name as representative; otherwise an empty string.',
    'Reply with JSON: {"same": true|false, "representative": "name"}',
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
export const synthesisAnswer = z.object({ problem: shortText });
export const problemSynthesis = defineTemplate({
  name: 'problem_synthesis',
  system: 'You write new, self-contained mathematics problems.',
  user: [
    'Write one new problem that integrates all of these key concepts organically, so that solving it requires each of them.',
    '{{relation_hint}}',
    '{{kcs}}',
    'The problem must be well posed, have a single verifiable final answer, and include every needed quantity. Do not include the solution.',
    'Reply with JSON: {"problem": "..."}',
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
export const difficultyAnswer = z.object({ difficulty: z.enum(['easy', 'medium', 'hard']), reason: z.string() });
export const difficultyRating = defineTemplate({
  name: 'difficulty_rating',
  system: 'You rate the difficulty of mathematics problems.',
  user: [
    'Rate the difficulty of this problem for a strong high-school competitor:',
    'easy (routine, one or two steps), medium (several steps or one insight), hard (olympiad-style, long or subtle).',
    '{{problem}}',
    'Reply with JSON: {"difficulty": "easy"|"medium"|"hard", "reason": "short"}',
  ].join('\n'),
  vars: { problem: 'untrusted' },
  answer: difficultyAnswer,
});

// 6. Solution: step by step, final answer in \boxed{}.
export const solutionAnswer = z.object({
  solution: z.string().trim().min(1).refine((s) => /\\boxed\{/.test(s), 'the solution must put the final answer in \\boxed{}'),
  final_answer: shortText,
});
export const solution = defineTemplate({
  name: 'solution',
  system: 'You solve mathematics problems carefully.',
  user: [
    'Solve this problem step by step, then state the final answer inside \\boxed{}.',
    '{{problem}}',
    'Reply with JSON: {"solution": "steps ... \\\\boxed{answer}", "final_answer": "answer"}',
  ].join('\n'),
  vars: { problem: 'untrusted' },
  answer: solutionAnswer,
});

// 7. Problem judgement: 0-1 for logical and presentational completeness.
export const problemJudgementAnswer = z.object({ score: z.number().min(0).max(1), reason: z.string() });
export const problemJudgement = defineTemplate({
  name: 'problem_judgement',
  system: 'You review mathematics problems before they are used.',
  user: [
    'Score this problem from 0 to 1 for logical and presentational completeness:',
    'is it well posed, consistent, solvable with a unique answer, and clearly stated with every needed quantity?',
    '1 means flawless, 0 means unusable.',
    '{{problem}}',
    'Reply with JSON: {"score": number, "reason": "short"}',
  ].join('\n'),
  vars: { problem: 'untrusted' },
  answer: problemJudgementAnswer,
});

// 8. Solution judgement: a 0/1 vote; any veto rejects.
export const solutionJudgementAnswer = z.object({ vote: z.number().int().min(0).max(1), reason: z.string() });
export const solutionJudgement = defineTemplate({
  name: 'solution_judgement',
  system: 'You verify solutions to mathematics problems.',
  user: [
    'Is this solution correct and complete, with a correct final answer? Vote 1 for yes, 0 for no.',
    '{{problem}}',
    '{{solution}}',
    'Reply with JSON: {"vote": 0|1, "reason": "short"}',
  ].join('\n'),
  vars: { problem: 'untrusted', solution: 'untrusted' },
  answer: solutionJudgementAnswer,
});

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
