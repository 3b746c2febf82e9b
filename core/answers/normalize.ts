/**
 * Final answers, made comparable. A domain names the steps its answers need (domains/<name>/
 * normalizer.yaml); this module defines each step once, as a pure function of the text, so that
 * "\frac{1}{2}", "1/2", "\boxed{\dfrac12}" and "0.5" compare equal where the domain says they should.
 *
 * Two questions are answered here: where is the final answer in a solution (`extractAnswer`: the
 * last \boxed{...}, or what follows the last `####`), and what is its canonical form
 * (`normalizeAnswer`). Agreement of two answers is equality of canonical forms, with numbers
 * compared by value.
 */

/** Where a solution states its final answer. */
export const ANSWER_LOCATIONS = ['boxed', 'hashes'] as const;
export type AnswerLocation = (typeof ANSWER_LOCATIONS)[number];

/** The normalizing steps a domain may list, applied in the listed order. */
export const NORMALIZER_STEPS = [
  'unwrap_boxed', // \boxed{x} -> x (a final answer that kept its box)
  'strip_dollars', // $x$ -> x (math mode markers), and a leading currency "$" of "$1,200"
  'latex_text', // \text{cm}, \mathrm{...}, \textbf{...} -> their content
  'latex_fractions', // \frac{a}{b}, \dfrac12, \tfrac{a}{b} -> (a)/(b) ... as a/b
  'latex_spacing', // \, \; \! \left \right ~ -> nothing
  'degrees', // ^\circ, ^{\circ}, ° -> nothing
  'thousands_commas', // 1,234,567 -> 1234567 (only when groups of three follow)
  'units', // trailing unit words: "18 dollars", "5 cm^2", "40 minutes" -> "18", "5", "40"
  'percent', // 25\% / 25% -> 25
  'trailing_period', // "42." -> "42"
  'lowercase',
  'spaces', // every whitespace removed
] as const;
export type NormalizerStep = (typeof NORMALIZER_STEPS)[number];

export interface NormalizerSpec {
  /** Where the final answer is in a solution, tried in this order. */
  locations: AnswerLocation[];
  steps: NormalizerStep[];
}

/** Content of the balanced group starting at text[open] === '{'; null when it never closes. */
function groupAt(text: string, open: number): { content: string; end: number } | null {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return { content: text.slice(open + 1, i), end: i + 1 };
  }
  return null;
}

/** Contents of every \boxed{...} / \fbox{...} in order (nested braces respected). */
export function boxedContents(text: string): string[] {
  const out: string[] = [];
  const re = /\\(?:boxed|fbox)\s*\{/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const g = groupAt(text, m.index + m[0].length - 1);
    if (!g) break;
    out.push(g.content);
    re.lastIndex = g.end;
  }
  return out;
}

/** The text with every \boxed{x} replaced by x. */
export function unboxAll(text: string): string {
  let out = '';
  let from = 0;
  const re = /\\(?:boxed|fbox)\s*\{/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const g = groupAt(text, m.index + m[0].length - 1);
    if (!g) break;
    out += text.slice(from, m.index) + unboxAll(g.content);
    from = g.end;
    re.lastIndex = g.end;
  }
  return out + text.slice(from);
}

/** The final answer a solution states, looking in the given places in order; null when none holds one. */
export function extractAnswer(solution: string, locations: readonly AnswerLocation[]): string | null {
  for (const where of locations) {
    if (where === 'boxed') {
      const boxed = boxedContents(solution);
      if (boxed.length > 0) return boxed[boxed.length - 1].trim();
    } else {
      const at = solution.lastIndexOf('####');
      if (at >= 0) {
        const rest = solution.slice(at + 4).split('\n')[0].trim();
        if (rest !== '') return rest;
      }
    }
  }
  return null;
}

const UNIT_WORDS =
  /(?:\s|\\[,;!]|~)*(?:\\text\{\s*)?(?:dollars?|cents?|euros?|pounds?|units?|square|cubic|sq\.?|cm|mm|km|m|meters?|metres?|centimeters?|kilometers?|inches|inch|in\.?|feet|foot|ft|yards?|miles?|mph|km\/h|kg|g|grams?|kilograms?|lbs?|ounces?|oz|liters?|litres?|l|ml|gallons?|seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h|days?|weeks?|months?|years?|degrees?|points?|people|persons?|students?|apples?|items?|pieces?|books?|cookies?|marbles?|eggs?|times)\b\.?(?:\s*\})?(?:\^?\{?[23]\}?)?\s*$/i;

function stripFractions(text: string): string {
  let s = text;
  // \frac12 and \dfrac34: single-character arguments without braces.
  s = s.replace(/\\[dt]?frac\s*(\d)\s*(\d)/g, '$1/$2');
  for (let guard = 0; guard < 20; guard++) {
    const m = /\\[dt]?frac\s*\{/.exec(s);
    if (!m) break;
    const num = groupAt(s, m.index + m[0].length - 1);
    if (!num) break;
    let j = num.end;
    while (s[j] === ' ') j++;
    const den = s[j] === '{' ? groupAt(s, j) : null;
    if (!den) break;
    const wrap = (x: string) => (/^[\w.]+$/.test(x.trim()) ? x.trim() : `(${x.trim()})`);
    s = `${s.slice(0, m.index)}${wrap(num.content)}/${wrap(den.content)}${s.slice(den.end)}`;
  }
  return s;
}

const STEP: Record<NormalizerStep, (s: string) => string> = {
  unwrap_boxed: (s) => {
    const boxed = boxedContents(s);
    return boxed.length > 0 ? boxed[boxed.length - 1] : s;
  },
  strip_dollars: (s) => s.replace(/^\s*\$+|\$+\s*$/g, '').replace(/^\\\$\s*/, '').replace(/^\$\s*(?=\d)/, ''),
  latex_text: (s) => s.replace(/\\(?:text|textbf|textit|mathrm|mathbf|operatorname|mbox)\s*\{([^{}]*)\}/g, '$1'),
  latex_fractions: stripFractions,
  latex_spacing: (s) => s.replace(/\\[,;!:]|\\quad|\\qquad|\\left|\\right|~/g, '').replace(/\\ /g, ' '),
  degrees: (s) => s.replace(/\^\s*\{?\\circ\}?|°|\\degree/g, ''),
  thousands_commas: (s) => s.replace(/(\d)[,](?=\d{3}(?!\d))/g, '$1').replace(/(\d)\{,\}(?=\d{3})/g, '$1'),
  units: (s) => {
    let out = s;
    for (let i = 0; i < 3 && /\d/.test(out); i++) {
      const next = out.replace(UNIT_WORDS, '');
      if (next === out || next.trim() === '') break;
      out = next;
    }
    return out;
  },
  percent: (s) => s.replace(/\s*\\?%\s*$/, ''),
  trailing_period: (s) => s.replace(/\.\s*$/, ''),
  lowercase: (s) => s.toLowerCase(),
  spaces: (s) => s.replace(/\s+/g, ''),
};

/** The canonical form of an answer under the domain's steps. */
export function normalizeAnswer(answer: string, spec: Pick<NormalizerSpec, 'steps'>): string {
  let s = typeof answer === 'string' ? answer.trim() : '';
  for (const step of spec.steps) s = STEP[step](s).trim();
  return s;
}

/** Numeric value of a canonical answer ("3", "-2.5", "1/2", "(3)/(4)"), or null when it is not a plain number. */
export function numericValue(canonical: string): number | null {
  const s = canonical.replace(/\s+/g, '');
  if (/^[-+]?(\d+\.?\d*|\.\d+)$/.test(s)) return Number(s);
  const frac = /^([-+]?)\(?([-+]?\d+(?:\.\d+)?)\)?\/\(?(\d+(?:\.\d+)?)\)?$/.exec(s);
  if (frac && Number(frac[3]) !== 0) return (frac[1] === '-' ? -1 : 1) * (Number(frac[2]) / Number(frac[3]));
  return null;
}

/** Whether two answers agree under the domain's normalizer: the same canonical text, or the same number. */
export function answersAgree(a: string, b: string, spec: Pick<NormalizerSpec, 'steps'>): boolean {
  const x = normalizeAnswer(a, spec);
  const y = normalizeAnswer(b, spec);
  if (x === '' || y === '') return false;
  if (x === y) return true;
  const nx = numericValue(x);
  const ny = numericValue(y);
  return nx !== null && ny !== null && Math.abs(nx - ny) <= 1e-9 * Math.max(1, Math.abs(nx), Math.abs(ny));
}

/** Validates a normalizer spec read from a domain folder; the message names what is wrong. */
export function checkNormalizerSpec(value: unknown): NormalizerSpec {
  const v = value as Partial<NormalizerSpec> | null;
  if (!v || typeof v !== 'object') throw new TypeError('normalizer: expected an object with "locations" and "steps"');
  if (!Array.isArray(v.locations) || v.locations.length === 0 || v.locations.some((l) => !ANSWER_LOCATIONS.includes(l))) {
    throw new TypeError(`normalizer: "locations" must list one or more of ${ANSWER_LOCATIONS.join(', ')}, got ${JSON.stringify(v.locations)}`);
  }
  if (!Array.isArray(v.steps) || v.steps.some((s) => !NORMALIZER_STEPS.includes(s))) {
    throw new TypeError(`normalizer: "steps" must list steps among ${NORMALIZER_STEPS.join(', ')}, got ${JSON.stringify(v.steps)}`);
  }
  return { locations: [...v.locations], steps: [...v.steps] };
}
