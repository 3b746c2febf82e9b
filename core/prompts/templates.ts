/**
 * The method's prompts (grip-method.md). Short on purpose: a tiny CPU model serves them in tests.
 *
 * A domain pack (domains/<name>/prompts.yaml) adds what is particular to its problems: the subject
 * named in the instructions, few-shot examples of key concepts and of problems, and how a solution
 * states its final answer. `buildPromptSet(domain)` renders those into the template texts, so each
 * prompt's version changes with exactly what that prompt sends. Without a domain the templates are
 * the plain ones below (the exports `kcExtraction`, `solution`, ...).
 */
import { z } from 'zod';
import type { Relation } from '../combos/types.ts';
import { defineTemplate, type PromptTemplate } from './template.ts';

/** What a domain pack contributes to the prompts. */
export interface DomainPrompts {
  /** The kind of problem, as the instructions name it ("mathematics problems", "grade-school math word problems"). */
  subject: string;
  /** Few-shot examples of key concepts: a problem and the concepts it relies on. */
  kc_examples: Array<{ problem: string; kcs: string[] }>;
  /** Few-shot examples of the kind of problem to write (style and length), not to be copied. */
  problem_examples: string[];
  /** How a worked solution ends with its final answer, e.g. "state the final answer inside \\boxed{}". */
  answer_instruction: string;
  /**
   * The line a stored solution ends with, `{answer}` standing for the final answer (e.g.
   * `#### {answer}`), added when the model's solution lacks it. Default: a `\boxed{}` answer.
   */
  answer_line?: string;
}

const shortText = z.string().trim().min(1);
// Length caps keep a small model from rambling inside a JSON string until it runs out of tokens;
// llama.cpp and vLLM enforce maxLength/maxItems in their JSON-schema grammars. Each template's
// maxTokens is at least tokensToCloseAnswer(its schema): a rambling answer is closed by the grammar
// at the caps, never cut off by the token limit with its JSON open (which cost three tries and a
// DLQ entry per call with the local tiny model).
// A KC name is words: a first word of letters (at least two), then up to nine more words of letters,
// digits and a little punctuation, each at most 20 characters. Grammar-constrained decoding can then
// not answer "1", "2", "3" or "a_1" or "a-b-c-d-..." (what a tiny model wrote for word problems),
// whatever the seeds; the character classes keep quotes, backslashes and newlines out of the JSON string.
export const KC_NAME_PATTERN = /^[A-Za-z][A-Za-z]{1,19}('s)?( [A-Za-z0-9'(),-]{1,20}){0,9}$/;
const kcName = z.string().trim().min(2).max(80).regex(KC_NAME_PATTERN, 'a concept name is words, the first of two or more letters');
const reason = z.string().max(200);

/**
 * Few-shot examples for KC extraction, picked per seed from the domain's pool: the `k` examples whose
 * problems share the most words with the seed's (ties: pool order). A small model imitates the
 * example in front of it, so a fixed example makes it name the same concepts for every seed; the
 * nearest examples keep its imitation close to the seed. Method-neutral: a fixed pool, a fixed rule.
 * The pool is part of the template's version; the examples chosen are part of the rendered message.
 */
export function pickKcExamples(pool: DomainPrompts['kc_examples'], problem: string, k = 2): DomainPrompts['kc_examples'] {
  const words = (t: string) => new Set((t.toLowerCase().match(/\p{L}{3,}/gu) ?? []).map((w) => w.slice(0, 6)));
  const seed = words(problem);
  return pool
    .map((e, i) => {
      const w = words(e.problem);
      let shared = 0;
      for (const x of w) if (seed.has(x)) shared++;
      return { e, i, score: shared / Math.max(1, Math.sqrt(w.size * Math.max(1, seed.size))) };
    })
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, k)
    .map((x) => x.e);
}

/** The examples block of one KC extraction (the `examples` variable). */
export function kcExamplesBlock(examples: DomainPrompts['kc_examples']): string {
  return [
    'Examples from other problems (the style of a concept name):',
    ...examples.map((e) => `Problem: ${e.problem}\nAnswer: ${JSON.stringify({ kcs: e.kcs })}`),
  ].join('\n');
}

function problemExamplesText(d: DomainPrompts | undefined): string {
  if (!d || d.problem_examples.length === 0) return '';
  return ['Examples of the kind of problem wanted (style and length only; do not copy them):', ...d.problem_examples.map((p) => `- ${p}`), ''].join('\n');
}
const subjectOf = (d: DomainPrompts | undefined) => d?.subject ?? 'mathematics problems';
const joinLines = (lines: string[]) => lines.filter((l) => l !== '').join('\n');

// 1. KC extraction, with the paper's five rules; it reads the problem AND its solution.
export const kcExtractionAnswer = z.object({
  kcs: z.array(kcName).min(1).max(5),
  // Repeated names are not refused here (small models repeat themselves and a re-ask rarely helps);
  // the concept extractor keeps the first of each, and the registry merges the rest anyway.
});
function kcExtractionFor(d?: DomainPrompts) {
  const pool = d?.kc_examples ?? [];
  return defineTemplate({
    name: 'kc_extraction',
    maxTokens: 920,
    system: `You identify the key mathematical concepts (KCs) that ${subjectOf(d)} and their solutions rely on.`,
    user: joinLines([
      'List 1 to 5 key concepts of this problem. Rules:',
      '1. Use precise mathematical terminology: a concept is named in words, never a number.',
      '2. Each concept must be used in both the problem and the solution.',
      '3. Be specific: a theorem, formula or property, not a broad area.',
      '4. Each concept is atomic; no two concepts say the same thing.',
      '5. No procedures or skills (not "solving equations").',
      pool.length > 0 ? '{{examples}}' : '',
      '{{problem}}',
      '{{solution}}',
      'Answer with a JSON object whose "kcs" array holds the names of the concepts of THIS problem.',
    ]),
    vars: pool.length > 0 ? { problem: 'untrusted', solution: 'untrusted', examples: 'text' } : { problem: 'untrusted', solution: 'untrusted' },
    extraText: Object.fromEntries(pool.map((e, i) => [`kc_example_${i}`, JSON.stringify(e)])),
    answer: kcExtractionAnswer,
  });
}

// 2. KC quality filter (a smaller model drops vague, wrong or over-detailed KCs).
export const kcFilterAnswer = z.object({
  decisions: z.array(z.object({ kc: kcName, keep: z.boolean(), reason })).min(1).max(5),
});
export const kcFilter = defineTemplate({
  name: 'kc_filter',
  maxTokens: 2300,
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
  maxTokens: 170,
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

// 4. Problem synthesis from a KC combination; the relation type informs the instruction. No seed
// examples. One template per relation: each one's version covers its own hint only, so adding a
// relation (and its hint) leaves the prompts of the other relations, and their cached answers, as they were.
export const RELATION_HINTS: Record<Relation, string> = {
  '1-hop': 'These concepts often appear together; combine them in a fresh, non-routine way.',
  '2-hop': 'These concepts are linked through a shared concept; build a bridge that makes both essential.',
  '3-hop': 'These concepts are distant; find a natural setting where both are genuinely needed.',
  community: 'These concepts form a closely related group; use all of them in one coherent problem.',
  louvain: 'These concepts come from one region of the concept graph; use all of them in one coherent problem.',
};
// At least a sentence: grammar-constrained decoding then cannot stop at a bare concept name.
export const synthesisAnswer = z.object({ problem: z.string().trim().min(40).max(1500) });
/** The synthesis template of one relation type, rendered with its hint. */
export function synthesisTemplate(hint: string, d?: DomainPrompts) {
  return defineTemplate({
    name: 'problem_synthesis',
    maxTokens: 1150,
    system: `You write new, self-contained ${subjectOf(d)}.`,
    user: joinLines([
      'Write one new problem that integrates all of these key concepts organically, so that solving it requires each of them.',
      hint,
      problemExamplesText(d),
      '{{kcs}}',
      'The problem must be well posed, ask one clear question with a single verifiable final answer, and include every needed quantity. Do not include the solution.',
      'Answer with a JSON object whose "problem" field holds the full problem statement.',
    ]),
    vars: { kcs: 'untrusted_list' },
    answer: synthesisAnswer,
  });
}
type SynthesisTemplate = PromptTemplate<z.infer<typeof synthesisAnswer>>;
function synthesisFor<R extends string>(d: DomainPrompts | undefined, hints: Record<R, string>): Record<R, SynthesisTemplate> {
  return Object.fromEntries(Object.entries<string>(hints).map(([r, hint]) => [r, synthesisTemplate(hint, d)])) as Record<R, SynthesisTemplate>;
}

// 5. Difficulty rating (routes the problem to the small or the large solver).
export const difficultyAnswer = z.object({ difficulty: z.enum(['easy', 'medium', 'hard']), reason });
export const difficultyRating = defineTemplate({
  name: 'difficulty_rating',
  maxTokens: 250,
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

// 6. Solution: step by step, final answer in \boxed{} (or the domain's format).
// A final answer is short and has at least one letter or digit. Checked after parsing, not as a
// schema pattern: llama.cpp builds a patterned string from the pattern alone, without its maxLength,
// and [^\n]* let the tiny model write `"final_answer": "1", 1000000...` (the quote inside the
// pattern) until max_tokens cut every solve off; a plain string closes at maxLength.
const finalAnswer = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((a) => /[A-Za-z0-9]/.test(a) && !a.includes('\n'), 'a final answer holds a number or an expression, on one line');
export const solutionAnswer = z.object({
  // The answer's own field is the source of truth; a solution that forgot \boxed{} gets it added by
  // withBoxedAnswer (a re-ask for a missing decoration wastes a call and rarely helps a small model).
  // 3000 characters: longer than 299 of the 300 shipped MATH-train solutions (the longest: 3,237).
  solution: z.string().trim().min(1).max(3000),
  final_answer: finalAnswer,
});
const BOXED_INSTRUCTION = 'state the final answer inside \\boxed{}';
function solutionFor(d?: DomainPrompts) {
  return defineTemplate({
    name: 'solution',
    maxTokens: 2400,
    system: `You solve ${subjectOf(d)} carefully.`,
    user: [
      `Solve this problem step by step, then ${d?.answer_instruction ?? BOXED_INSTRUCTION}.`,
      '{{problem}}',
      'Answer with a JSON object: "solution" (the worked steps, ending with the final answer) and "final_answer" (the answer alone: a number or an expression, no words).',
    ].join('\n'),
    vars: { problem: 'untrusted' },
    answer: solutionAnswer,
  });
}

// 6b. Self-consistency: an independent second solve, short, whose final answer must agree with the
// candidate's. Another prompt than the solver's (answer first, brief work), so it is not the same
// call answered from the cache, and cheaper than a full worked solution.
export const answerCheckAnswer = z.object({ work: z.string().trim().max(600), final_answer: finalAnswer });
function answerCheckFor(d?: DomainPrompts) {
  return defineTemplate({
    name: 'answer_check',
    maxTokens: 680,
    system: `You solve ${subjectOf(d)} independently and check answers.`,
    user: [
      'Solve this problem on your own. Keep the work brief.',
      '{{problem}}',
      'Answer with a JSON object: "work" (brief working) and "final_answer" (the answer alone: a number or an expression, no words).',
    ].join('\n'),
    vars: { problem: 'untrusted' },
    answer: answerCheckAnswer,
  });
}

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

/**
 * The solution text ending the way the domain's solutions end (`answerLine`, e.g. `#### {answer}`):
 * the line is added when the solution lacks its marker (the template's text before `{answer}`).
 * Without a domain line: withBoxedAnswer.
 */
export function withAnswerLine(answer: { solution: string; final_answer: string }, answerLine?: string): string {
  if (answerLine === undefined) return withBoxedAnswer(answer);
  const marker = answerLine.slice(0, answerLine.indexOf('{answer}')).trim();
  if (marker !== '' && answer.solution.includes(marker)) return answer.solution;
  return `${answer.solution.trimEnd()}\n${answerLine.replace('{answer}', answer.final_answer)}`;
}

/**
 * Every prompt of the method, for one domain (or the plain ones). `hints` exists for the test that
 * adding a relation leaves the other relations' synthesis versions unchanged.
 */
export function buildPromptSet<R extends string = Relation>(domain?: DomainPrompts, hints: Record<R, string> = RELATION_HINTS as Record<R, string>) {
  const pool = domain?.kc_examples ?? [];
  return {
    /** The variables of one KC extraction: the seed's problem and solution, plus its nearest few-shot examples. */
    kcExtractionVars: (problem: string, solution: string): Record<string, string> =>
      pool.length > 0 ? { problem, solution, examples: kcExamplesBlock(pickKcExamples(pool, problem)) } : { problem, solution },
    kc_extraction: kcExtractionFor(domain),
    kc_filter: kcFilter,
    synonym_check: synonymCheck,
    problem_synthesis: synthesisFor(domain, hints),
    difficulty_rating: difficultyRating,
    solution: solutionFor(domain),
    answer_check: answerCheckFor(domain),
    problem_judgement: problemJudgement,
    solution_judgement: solutionJudgement,
    /** The stored solution, ending with the domain's answer line (withAnswerLine). */
    finishSolution: (answer: { solution: string; final_answer: string }): string => withAnswerLine(answer, domain?.answer_line),
  } as const;
}
export type PromptSet = ReturnType<typeof buildPromptSet<Relation>>;

/** The plain prompts (no domain pack). */
export const PROMPTS: PromptSet = buildPromptSet();
export const kcExtraction = PROMPTS.kc_extraction;
export const problemSynthesis = PROMPTS.problem_synthesis;
export const solution = PROMPTS.solution;
export const answerCheck = PROMPTS.answer_check;

export type PromptName = keyof PromptSet;

/** name -> version (synthesis: one per relation, `problem_synthesis:<relation>`), for lineage records and cache keys. */
export function promptVersions(set: PromptSet = PROMPTS): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, t] of Object.entries(set)) {
    if (typeof t === 'function') continue;
    if ('version' in t) out[name] = t.version as string;
    else for (const [rel, tr] of Object.entries(t as Record<string, PromptTemplate<unknown>>)) out[`${name}:${rel}`] = tr.version;
  }
  return out;
}
