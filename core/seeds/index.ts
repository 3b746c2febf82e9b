/**
 * Seed intake rules, shared by `grip seed add`, POST /seeds and `grip run`: decode, map fields,
 * validate, and give each seed a content-hash id so that a seed sent twice is stored once.
 */
import { shortHash } from '../util/hash.ts';

export interface FieldMapping {
  problem: string;
  solution: string;
  /** Optional: the seed's own id field in its source. */
  id?: string;
}

export const MATH_FIELDS: FieldMapping = { problem: 'problem', solution: 'solution' };

export interface SeedLimits {
  /** Max characters of problem + solution. */
  maxChars: number;
  /** Min characters of the problem. */
  minProblemChars: number;
}

export const DEFAULT_SEED_LIMITS: SeedLimits = { maxChars: 20_000, minProblemChars: 10 };

export interface ValidSeed {
  seed_id: string;
  problem: string;
  solution: string;
  source_id: string | null;
}

export type SeedRejectReason =
  | 'invalid_utf8'
  | 'invalid_json'
  | 'not_an_object'
  | 'missing_field'
  | 'wrong_type'
  | 'empty_text'
  | 'too_large'
  | 'instruction_injection';

export type SeedCheck = { ok: true; seed: ValidSeed } | { ok: false; reason: SeedRejectReason; message: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Whitespace-normalized text: the form seeds are hashed in, so formatting noise does not split a seed. */
export function normalizeSeedText(text: string): string {
  return text.normalize('NFC').replace(/\r\n?/g, '\n').replace(/[ \t]+/g, ' ').replace(/\n{3,}/g, '\n\n').trim();
}

export function seedId(problem: string, solution: string): string {
  return `seed-${shortHash(`${normalizeSeedText(problem)}\u0000${normalizeSeedText(solution)}`, 16)}`;
}

/**
 * Phrases that address the model rather than state a problem. A seed's text is always passed to
 * models inside delimiters as data, but a seed that tries to steer the model is still refused at
 * the door: it would poison the concepts extracted from it.
 */
const INJECTION_PATTERNS: RegExp[] = [
  /\b(ignore|disregard|forget)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|any)\b[^.\n]{0,20}\b(instructions?|prompts?|rules?|messages?)\b/i,
  /\b(you are now|act as|pretend to be|from now on,? you)\b/i,
  /\b(system prompt|developer message|jailbreak)\b/i,
  /<\/?\s*(system|assistant|im_start|im_end)\b/i,
  /\b(respond|reply|answer|output)\s+(only\s+)?with\b[^.\n]{0,40}\b(instead|regardless)\b/i,
];

export function looksLikeInstructionInjection(text: string): boolean {
  return INJECTION_PATTERNS.some((re) => re.test(text));
}

/** Decodes one line of JSONL bytes into a record, with the reason when it cannot. */
export function decodeRecord(bytes: Uint8Array | string): { ok: true; record: Record<string, unknown> } | { ok: false; reason: SeedRejectReason; message: string } {
  let text: string;
  if (typeof bytes === 'string') text = bytes;
  else {
    try {
      text = utf8.decode(bytes);
    } catch {
      return { ok: false, reason: 'invalid_utf8', message: 'the line is not valid UTF-8' };
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: 'invalid_json', message: `not valid JSON: ${(error as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, reason: 'not_an_object', message: `expected a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}` };
  }
  return { ok: true, record: value as Record<string, unknown> };
}

/** Maps and validates a decoded record. */
export function validateSeed(record: Record<string, unknown>, fields: FieldMapping = MATH_FIELDS, limits: SeedLimits = DEFAULT_SEED_LIMITS): SeedCheck {
  const present = Object.keys(record);
  for (const role of ['problem', 'solution'] as const) {
    const name = fields[role];
    if (!(name in record)) {
      return { ok: false, reason: 'missing_field', message: `missing ${role} field "${name}"; the record has: ${present.join(', ') || '(no fields)'}` };
    }
    if (typeof record[name] !== 'string') {
      return { ok: false, reason: 'wrong_type', message: `${role} field "${name}" must be a string, got ${typeof record[name]}` };
    }
  }
  if (fields.id !== undefined && !(fields.id in record)) {
    return { ok: false, reason: 'missing_field', message: `missing id field "${fields.id}"; the record has: ${present.join(', ')}` };
  }
  const problem = normalizeSeedText(record[fields.problem] as string);
  const solution = normalizeSeedText(record[fields.solution] as string);
  if (problem.length < limits.minProblemChars) {
    return { ok: false, reason: 'empty_text', message: `problem has ${problem.length} characters (at least ${limits.minProblemChars} needed)` };
  }
  if (solution.length === 0) return { ok: false, reason: 'empty_text', message: 'solution is empty' };
  if (problem.length + solution.length > limits.maxChars) {
    return { ok: false, reason: 'too_large', message: `problem + solution have ${problem.length + solution.length} characters (limit ${limits.maxChars})` };
  }
  if (looksLikeInstructionInjection(problem) || looksLikeInstructionInjection(solution)) {
    return { ok: false, reason: 'instruction_injection', message: 'the text addresses the model with instructions instead of stating a problem' };
  }
  const rawId = fields.id !== undefined ? record[fields.id] : undefined;
  return {
    ok: true,
    seed: {
      seed_id: seedId(problem, solution),
      problem,
      solution,
      source_id: rawId === undefined || rawId === null ? null : String(rawId),
    },
  };
}
