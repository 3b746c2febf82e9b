/**
 * Synthetic but plausible texts for the scale benchmark: MATH-style problems and solutions of
 * realistic length, with inline LaTeX, numbers and a question, drawn from a seeded RNG. They are
 * distinct from one another (so dedup, compression and the judge's MinHash see varied text) and
 * pass the quality gates of the math domain (a question, a boxed answer of a few words).
 */
import type { Rng } from '../../core/util/rng.ts';

const SUBJECTS = ['triangle', 'circle', 'polynomial', 'sequence', 'parabola', 'rectangle', 'integer', 'function', 'square', 'prism', 'cone', 'hexagon', 'trapezoid', 'matrix', 'vector', 'lattice', 'ellipse', 'chord', 'tangent line', 'arithmetic progression'];
const VERBS = ['satisfies', 'meets', 'contains', 'divides', 'passes through', 'is inscribed in', 'is tangent to', 'bisects', 'exceeds', 'equals'];
const ADJECTIVES = ['positive', 'smallest', 'largest', 'real', 'distinct', 'integer', 'rational', 'acute', 'consecutive', 'nonnegative', 'prime', 'even', 'odd'];
const QUANTITIES = ['area', 'perimeter', 'sum of the roots', 'product of the solutions', 'length of the segment', 'number of ordered pairs', 'remainder', 'greatest common divisor', 'least common multiple', 'radius', 'slope', 'volume', 'probability', 'expected value', 'median'];
const CONNECTIVES = ['Therefore', 'Hence', 'Since', 'Next', 'Now', 'Moreover', 'In particular', 'Thus', 'Substituting back', 'Rearranging'];
const LETTERS = ['x', 'y', 'n', 'k', 'a', 'b', 'c', 'm', 'p', 'q', 'r', 't'];

const pick = <T>(rng: Rng, list: readonly T[]): T => list[rng.int(list.length)]!;
const num = (rng: Rng, max = 100) => 1 + rng.int(max);

function expression(rng: Rng): string {
  const v = pick(rng, LETTERS);
  switch (rng.int(6)) {
    case 0:
      return `$${num(rng, 9)}${v}^2 ${rng.int(2) ? '+' : '-'} ${num(rng, 30)}${v} + ${num(rng, 50)} = 0$`;
    case 1:
      return `$\\frac{${num(rng, 20)}}{${num(rng, 20)}}${v} + ${num(rng, 40)}$`;
    case 2:
      return `$(${num(rng, 12)}, ${num(rng, 12)})$`;
    case 3:
      return `$\\sqrt{${num(rng, 200)}}$`;
    case 4:
      return `$${v}_{${num(rng, 9)}} = ${num(rng, 90)}$`;
    default:
      return `$${num(rng, 999)}$`;
  }
}

function statement(rng: Rng): string {
  switch (rng.int(4)) {
    case 0:
      return `Let ${pick(rng, LETTERS)} be the ${pick(rng, ADJECTIVES)} ${pick(rng, SUBJECTS)} that ${pick(rng, VERBS)} ${expression(rng)}.`;
    case 1:
      return `A ${pick(rng, SUBJECTS)} ${pick(rng, VERBS)} a ${pick(rng, SUBJECTS)} whose ${pick(rng, QUANTITIES)} is ${expression(rng)}.`;
    case 2:
      return `Suppose that ${expression(rng)} and the ${pick(rng, QUANTITIES)} of the ${pick(rng, SUBJECTS)} is ${num(rng, 500)}.`;
    default:
      return `The ${pick(rng, ADJECTIVES)} values of ${pick(rng, LETTERS)} for which ${expression(rng)} form a ${pick(rng, SUBJECTS)}.`;
  }
}

function step(rng: Rng): string {
  switch (rng.int(3)) {
    case 0:
      return `${pick(rng, CONNECTIVES)}, ${expression(rng)} gives ${expression(rng)}, so the ${pick(rng, QUANTITIES)} is ${num(rng, 400)}.`;
    case 1:
      return `${pick(rng, CONNECTIVES)} the ${pick(rng, SUBJECTS)} ${pick(rng, VERBS)} ${expression(rng)}, we get ${expression(rng)}.`;
    default:
      return `By the ${pick(rng, SUBJECTS)} lemma, ${expression(rng)} ${pick(rng, VERBS)} ${expression(rng)}.`;
  }
}

/**
 * Pools of sentences made once from a seeded RNG; a text is a random draw of sentences from them
 * (thousands of sentences: two texts share few, so they are far apart for MinHash), which keeps
 * making millions of texts cheap.
 */
export class TextPool {
  private readonly statements: string[];
  private readonly steps: string[];
  private readonly questions: string[];

  constructor(rng: Rng, size = 8192) {
    this.statements = Array.from({ length: size }, () => statement(rng));
    this.steps = Array.from({ length: size }, () => step(rng));
    this.questions = Array.from({ length: size / 8 }, () => `What is the ${pick(rng, QUANTITIES)} of the ${pick(rng, SUBJECTS)}?`);
  }

  /** A problem statement of about `min`-`max` characters ending with a question. */
  problem(rng: Rng, min: number, max: number): string {
    return fill(rng, min, max, this.statements, pick(rng, this.questions));
  }

  /** A worked solution of about `min`-`max` characters ending with a boxed final answer. */
  solution(rng: Rng, min: number, max: number, answer: string): string {
    return fill(rng, min, max, this.steps, `The answer is $\\boxed{${answer}}$.`);
  }
}

/** Sentences drawn from `pool` until the text is at least `min` characters (and at most about `max`). */
function fill(rng: Rng, min: number, max: number, pool: readonly string[], end: string): string {
  const target = min + rng.int(Math.max(1, max - min));
  let text = '';
  while (text.length + end.length < target) text += pick(rng, pool) + ' ';
  return text + end;
}

/** A short final answer (a number or a small expression). */
export function finalAnswer(rng: Rng): string {
  switch (rng.int(4)) {
    case 0:
      return `\\frac{${num(rng, 30)}}{${num(rng, 30)}}`;
    case 1:
      return `${num(rng, 20)}\\sqrt{${num(rng, 10)}}`;
    default:
      return String(num(rng, 2000));
  }
}

const KC_TOPICS = ['quadratic', 'linear', 'modular', 'geometric', 'arithmetic', 'binomial', 'exponential', 'logarithmic', 'trigonometric', 'polynomial', 'rational', 'circular', 'triangular', 'combinatorial', 'probabilistic', 'vector', 'matrix', 'complex', 'prime', 'recursive', 'harmonic', 'parametric', 'conic', 'spherical', 'cyclic', 'diophantine', 'inscribed', 'symmetric', 'integer', 'fractional', 'periodic', 'convex', 'discrete', 'angular', 'radical', 'algebraic', 'coordinate', 'euclidean', 'analytic', 'finite'];
const KC_NOUNS = ['formula', 'theorem', 'identity', 'inequality', 'equation', 'series', 'sequence', 'function', 'graph', 'area', 'volume', 'factorization', 'substitution', 'symmetry', 'bound', 'expansion', 'congruence', 'recurrence', 'partition', 'transformation', 'projection', 'determinant', 'root', 'mean', 'ratio', 'limit', 'coefficient', 'interval', 'angle', 'distance'];
const KC_QUALIFIERS = ['', 'of a circle', 'of a triangle', 'in the plane', 'for integers', 'over the reals', 'with constraints', 'by cases', 'in three dimensions', 'of a polygon', 'on a lattice', 'mod p', 'of roots', 'for sequences', 'of a parabola', 'in a grid', 'with symmetry', 'of vectors', 'in counting', 'of digits', 'for primes', 'of sums', 'in probability', 'of exponents', 'with absolute values', 'of fractions', 'of chords', 'for inequalities', 'of areas', 'in number theory'];

/** The name of KC number `k` (distinct for every k below 36,000, then numbered). */
export function kcName(k: number): string {
  const perTopic = KC_NOUNS.length * KC_QUALIFIERS.length;
  const cycle = KC_TOPICS.length * perTopic;
  const i = k % cycle;
  const topic = KC_TOPICS[i % KC_TOPICS.length]!;
  const noun = KC_NOUNS[Math.floor(i / KC_TOPICS.length) % KC_NOUNS.length]!;
  const qualifier = KC_QUALIFIERS[Math.floor(i / (KC_TOPICS.length * KC_NOUNS.length)) % KC_QUALIFIERS.length]!;
  const round = Math.floor(k / cycle);
  return [topic, noun, qualifier, round > 0 ? `(variant ${round + 1})` : ''].filter(Boolean).join(' ');
}

/** 24 hex digits from the RNG (ids that look like the pipeline's hashed ids). */
export function hexId(rng: Rng, digits = 24): string {
  let out = '';
  while (out.length < digits) out += (rng.int(0x10000) + 0x10000).toString(16).slice(1);
  return out.slice(0, digits);
}
