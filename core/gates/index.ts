/**
 * Quality gates: cheap, model-independent checks a problem-solution pair must pass before any judge
 * is asked. A small model's judges accept nearly everything, so the garbage they let through (field
 * names as answers, a phrase repeated twenty times, a sentence in \boxed{}) must be caught by rules
 * that do not depend on a model at all; at scale they save the judge calls a broken pair would cost.
 *
 * Each gate is a pure function of the pair and the thresholds, and has its own reason string
 * (`gate:<name>`), which is what rejected.jsonl and grip.verdicts record. `checkGates` returns the
 * first failing gate, in the fixed order of GATE_NAMES (cheapest and most specific first).
 */
import { boxedContents, extractAnswer, normalizeAnswer, unboxAll, type NormalizerSpec } from '../answers/index.ts';

export const GATE_NAMES = ['length', 'leftover', 'repetition', 'no_question', 'answer_empty', 'answer_sentence', 'answer_absent'] as const;
export type GateName = (typeof GATE_NAMES)[number];
export type GateReason = `gate:${GateName}`;
export const GATE_REASONS: readonly GateReason[] = GATE_NAMES.map((g) => `gate:${g}` as const);

export interface GateThresholds {
  /** Characters of the problem statement, inclusive bounds. */
  problem_chars: { min: number; max: number };
  solution_chars: { min: number; max: number };
  /** Word n-gram length for the repetition measure. */
  repetition_ngram: number;
  /** Largest share of word n-grams that repeat an earlier one (0: none may repeat, 1: off). */
  max_repeated_share: number;
  /** A final answer with more words than this (letters only, LaTeX commands not counted) is a sentence. */
  max_answer_words: number;
}

export interface GateInput {
  problem: string;
  solution: string;
  final_answer: string;
}

export interface GateResult {
  passed: boolean;
  /** The first failing gate, null when every gate passed. */
  reason: GateReason | null;
  /** What exactly failed, for logs and the rejected row. */
  detail: string | null;
}

const str = (x: unknown): string => (typeof x === 'string' ? x : '');

/** Lowercased words of two or more letters, any script. */
function words(text: string): string[] {
  return text.toLowerCase().match(/\p{L}{2,}/gu) ?? [];
}

/**
 * Share of word n-grams that repeat an n-gram seen earlier in the text (0 for texts shorter than 2n
 * words). Words are runs of two or more letters outside LaTeX commands: formulas repeat their
 * symbols legitimately ("x^2 + x^2"), prose that repeats its words is what a looping model writes.
 */
export function repeatedShare(text: string, n: number): number {
  const w = words(str(text).replace(/\\[a-zA-Z]+/g, ' '));
  const total = w.length - n + 1;
  if (w.length < 2 * n || total <= 0) return 0;
  const seen = new Set<string>();
  let repeats = 0;
  for (let i = 0; i < total; i++) {
    const g = w.slice(i, i + n).join(' ');
    if (seen.has(g)) repeats++;
    else seen.add(g);
  }
  return repeats / total;
}

/** Names of the pipeline's own fields and prompt scaffolding: in a problem or answer they are leftovers. */
const FIELD_NAMES = ['final_answer', 'problem_statement', 'problem_text', 'kc_names', 'kc_ids', 'relation_hint', 'seed_id', 'combo_id', 'candidate_id'];
const ANSWER_FIELD_WORDS = new Set(['solution', 'final_answer', 'final answer', 'answer', 'problem', 'problem_statement', 'kcs', 'none', 'null', 'undefined', 'n/a', '...']);
const FILE_NAME = /\b[\w-]+\.(?:jsonl|json|csv|tsv|txt|ya?ml|py|ts|js|parquet|md)\b/i;
const PROMPT_MARKER = /<<<|>>>|<\s<\s<|>\s>\s>|\bBEGIN (?:PROBLEM|SOLUTION|KCS)\b|\bEND (?:PROBLEM|SOLUTION|KCS)\b|\{\{\s*[a-z_]{2,}\s*\}\}/;

/** A leftover of templates or data files in the text, described; null when there is none. */
export function findLeftover(text: string): string | null {
  const t = str(text);
  const lower = t.toLowerCase();
  for (const f of FIELD_NAMES) if (lower.includes(f)) return `field name "${f}"`;
  const file = FILE_NAME.exec(t);
  if (file) return `file name "${file[0]}"`;
  const marker = PROMPT_MARKER.exec(t);
  if (marker) return `prompt marker "${marker[0]}"`;
  return null;
}

// What a problem that asks something contains: a question mark, or an instruction verb (the
// statement may be in the imperative: "Find x.", "Compute the sum."). Other scripts' question marks too.
const ASKS =
  /[?？؟]|\b(?:find|compute|calculate|determine|evaluate|what|which|how|who|when|where|why|show|prove|express|simplify|solve|give|state|list|count|estimate|identify|write|rewrite|derive|verify|decide|factor|expand|rationalize|convert|round|enter|arrange|order|sort|graph|sketch|plot|draw|describe|explain|justify|is there|are there|does|do|can|should|must)\b/i;

export function asksSomething(problem: string): boolean {
  return ASKS.test(str(problem));
}

/** Letter words of an answer, LaTeX commands and their \text{} wrappers set aside. */
function answerWords(answer: string): string[] {
  const bare = answer.replace(/\\[a-zA-Z]+/g, ' ');
  return bare.match(/\p{L}{2,}/gu) ?? [];
}

export function isSentence(answer: string, maxWords: number): boolean {
  return answerWords(str(answer)).length > maxWords;
}

/** Whether the solution states the final answer: its extracted answer, or anywhere in its text, after normalizing. */
export function answerInSolution(solution: string, finalAnswer: string, normalizer: NormalizerSpec): boolean {
  const want = normalizeAnswer(finalAnswer, normalizer);
  if (want === '') return false;
  const stated = extractAnswer(solution, normalizer.locations);
  if (stated !== null && normalizeAnswer(stated, normalizer) === want) return true;
  // Anywhere in the text ("... so the circle is $(x-1)^2+(y-2)^2=\boxed{25}$" states "(x-1)^2+(y-2)^2=25"):
  // the steps that only make sense at the end of an answer are left out.
  const inText = normalizer.steps.filter((s) => s !== 'unwrap_boxed' && s !== 'units' && s !== 'trailing_period' && s !== 'percent' && s !== 'strip_dollars');
  return normalizeAnswer(unboxAll(solution), { steps: inText }).replace(/\$/g, '').includes(normalizeAnswer(want, { steps: inText }).replace(/\$/g, ''));
}

function fail(reason: GateName, detail: string): GateResult {
  return { passed: false, reason: `gate:${reason}`, detail };
}

/** Runs every gate in order; the first failure decides. Never throws, whatever the text. */
export function checkGates(pair: GateInput, t: GateThresholds, normalizer: NormalizerSpec): GateResult {
  const problem = str(pair?.problem);
  const solution = str(pair?.solution);
  const answer = str(pair?.final_answer).trim();
  const p = problem.trim().length;
  const s = solution.trim().length;
  if (p < t.problem_chars.min || p > t.problem_chars.max) return fail('length', `problem has ${p} characters (allowed ${t.problem_chars.min}-${t.problem_chars.max})`);
  if (s < t.solution_chars.min || s > t.solution_chars.max) return fail('length', `solution has ${s} characters (allowed ${t.solution_chars.min}-${t.solution_chars.max})`);

  for (const [part, text] of [['problem', problem], ['solution', solution], ['final answer', answer]] as const) {
    const left = findLeftover(text);
    if (left) return fail('leftover', `${part}: ${left}`);
  }
  if (ANSWER_FIELD_WORDS.has(answer.toLowerCase().replace(/\s+/g, ' '))) return fail('leftover', `final answer is the word "${answer}"`);

  for (const [part, text] of [['problem', problem], ['solution', solution]] as const) {
    const share = repeatedShare(text, t.repetition_ngram);
    if (share > t.max_repeated_share) return fail('repetition', `${part}: ${(share * 100).toFixed(0)}% of its ${t.repetition_ngram}-word sequences repeat (allowed ${(t.max_repeated_share * 100).toFixed(0)}%)`);
  }
  if (!asksSomething(problem)) return fail('no_question', 'the problem has no question mark and no instruction (find, compute, what, ...)');

  if (normalizeAnswer(answer, normalizer) === '') return fail('answer_empty', 'the final answer is empty');
  const boxed = boxedContents(solution);
  for (const a of [answer, ...boxed]) {
    if (isSentence(a, t.max_answer_words)) return fail('answer_sentence', `"${a.slice(0, 80)}" is a sentence, not an answer (more than ${t.max_answer_words} words)`);
  }
  if (!answerInSolution(solution, answer, normalizer)) return fail('answer_absent', `the solution never states the final answer "${answer.slice(0, 80)}"`);
  return { passed: true, reason: null, detail: null };
}

/** Validates thresholds (from settings and domain packs); the message names the bad field. */
export function checkGateThresholds(t: GateThresholds): GateThresholds {
  const bad = (field: string, why: string) => new RangeError(`gates.${field}: ${why}`);
  for (const k of ['problem_chars', 'solution_chars'] as const) {
    if (!(t[k].min >= 0 && t[k].max >= t[k].min)) throw bad(k, `need 0 <= min <= max, got ${JSON.stringify(t[k])}`);
  }
  if (!(Number.isInteger(t.repetition_ngram) && t.repetition_ngram >= 1)) throw bad('repetition_ngram', `a whole number >= 1, got ${t.repetition_ngram}`);
  if (!(t.max_repeated_share >= 0 && t.max_repeated_share <= 1)) throw bad('max_repeated_share', `in [0, 1], got ${t.max_repeated_share}`);
  if (!(t.max_answer_words >= 0)) throw bad('max_answer_words', `>= 0, got ${t.max_answer_words}`);
  return t;
}
