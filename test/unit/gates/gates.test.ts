/**
 * Every quality gate, with the garbage the issue quotes (issue 12: rows a tiny model's judges
 * accepted) as fixtures, real seed pairs that must pass, and property tests that no text crashes them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractAnswer } from '../../../core/answers/index.ts';
import { asksSomething, checkGates, findLeftover, GATE_NAMES, isSentence, repeatedShare, type GateInput } from '../../../core/gates/index.ts';
import { loadDomain } from '../../../services/runtime/domains.ts';
import { readTextBytes } from '../../../services/runtime/text-files.ts';
import path from 'node:path';
import { REPO_ROOT } from '../../../services/runtime/config.ts';

const math = loadDomain('competition-math');
const gsm = loadDomain('grade-school-math');
const check = (pair: GateInput, pack = math) => checkGates(pair, pack.gates, pack.normalizer);

const good: GateInput = {
  problem: 'A circle is centred at $(1,2)$ and passes through $(4,6)$. Find the equation of the circle.',
  solution: 'The radius is the distance from $(1,2)$ to $(4,6)$: $\\sqrt{3^2+4^2}=5$. So the circle is $(x-1)^2+(y-2)^2=\\boxed{25}$.',
  final_answer: '(x-1)^2+(y-2)^2=25',
};

// The garbage rows (issue 12, "Why"): each must be rejected, by the gate named.
const GARBAGE: Array<[string, GateInput, string]> = [
  ['a file name as the problem, "solution" as the answer', { problem: 'problem_statement_1.jsonl_file.jsonl_file', solution: 'The answer is \\boxed{solution}.', final_answer: 'solution' }, 'gate:leftover'],
  [
    'a file name inside a long enough problem',
    { problem: 'Consider problem_statement_1.jsonl_file.jsonl_file and find the value of x when 2x = 8.', solution: '2x = 8 so x = \\boxed{4}.', final_answer: '4' },
    'gate:leftover',
  ],
  ['"solution" as the final answer', { ...good, final_answer: 'solution', solution: 'We compute it. \\boxed{solution}' }, 'gate:leftover'],
  ['"final_answer" as the final answer', { ...good, final_answer: 'final_answer', solution: 'Hence \\boxed{final_answer}.' }, 'gate:leftover'],
  ['a prompt marker left in the problem', { ...good, problem: '<<<BEGIN PROBLEM>>> Find the sum of the roots of x^2 - 5x + 6 = 0.' }, 'gate:leftover'],
  [
    'a phrase repeated twenty times',
    {
      problem: `What is the ${'product of zero and '.repeat(20)}seven?`,
      solution: 'Any product with zero is zero, so the answer is \\boxed{0}.',
      final_answer: 'final_answer',
    },
    'gate:leftover',
  ],
  [
    'a phrase repeated twenty times (answer fine)',
    { problem: `What is the ${'product of zero and '.repeat(20)}seven?`, solution: 'Any product with zero is zero, so the answer is \\boxed{0}.', final_answer: '0' },
    'gate:repetition',
  ],
  ['a problem that asks nothing', { ...good, problem: 'A circle is centred at $(1,2)$ and passes through the point $(4,6)$ in the plane.' }, 'gate:no_question'],
  ['an empty final answer', { ...good, final_answer: '  ' }, 'gate:answer_empty'],
  [
    'a sentence in \\boxed{}',
    { ...good, solution: 'So \\boxed{the circle has its centre at one two and radius five units}.', final_answer: '(x-1)^2+(y-2)^2=25' },
    'gate:answer_sentence',
  ],
  ['a sentence as the final answer', { ...good, final_answer: 'it is the circle through both of the given points' }, 'gate:answer_sentence'],
  ['a final answer the solution never states', { ...good, final_answer: '17' }, 'gate:answer_absent'],
  ['a solution that is far too long', { ...good, solution: `Expand each term and simplify carefully. ${'x'.repeat(9000)} \\boxed{25}` }, 'gate:length'],
  ['a problem too short to be one', { ...good, problem: 'Find x?' }, 'gate:length'],
];

describe('quality gates', () => {
  it('pass a sound pair', () => {
    expect(check(good)).toEqual({ passed: true, reason: null, detail: null });
  });

  it.each(GARBAGE)('reject %s', (_, pair, reason) => {
    const result = check(pair);
    expect(result.passed).toBe(false);
    expect(result.reason).toBe(reason);
    expect(result.detail).toBeTruthy();
  });

  it('every gate has a fixture that it alone rejects first', () => {
    const seen = new Set(GARBAGE.map(([, pair]) => check(pair).reason));
    for (const g of GATE_NAMES) expect(seen, g).toContain(`gate:${g}`);
  });

  it('GSM8K layout: "####" answers with units and commas are found in the solution', () => {
    const pair = { problem: 'A shop sells 1,200 pens a week at $2 each. How much money does it make in a week?', solution: 'It makes 1,200 * 2 = <<1200*2=2400>>2,400 dollars.\n#### 2,400', final_answer: '2400 dollars' };
    expect(checkGates(pair, gsm.gates, gsm.normalizer)).toMatchObject({ passed: true });
    expect(checkGates({ ...pair, final_answer: '2500' }, gsm.gates, gsm.normalizer).reason).toBe('gate:answer_absent');
  });

  it('thresholds are settings: a looser repetition share lets the repeated phrase through', () => {
    const pair = GARBAGE.find(([name]) => name === 'a phrase repeated twenty times (answer fine)')![1];
    expect(checkGates(pair, { ...math.gates, max_repeated_share: 1 }, math.normalizer).passed).toBe(true);
    expect(checkGates(good, { ...math.gates, problem_chars: { min: 500, max: 5000 } }, math.normalizer).reason).toBe('gate:length');
  });

  it('pass (nearly) every real seed pair: the shipped MATH sample', () => {
    const lines = readTextBytes(path.join(REPO_ROOT, 'data', 'seeds', 'math-train-sample.jsonl.gz')).toString('utf8').split('\n').filter(Boolean);
    const failed = lines.map((l) => JSON.parse(l)).filter((r) => !check({ problem: r.problem, solution: r.solution, final_answer: extractAnswer(r.solution, ['boxed']) ?? '' }).passed);
    expect(failed.length / lines.length).toBeLessThan(0.02);
  });
});

describe('gate measures', () => {
  it('repeatedShare counts repeated word trigrams, ignoring formulas', () => {
    expect(repeatedShare('the cat sat on the mat', 3)).toBe(0);
    expect(repeatedShare('product of zero and '.repeat(20), 3)).toBeGreaterThan(0.9);
    expect(repeatedShare('$x^2 + x^2 + x^2 + x^2 + x^2 + x^2$', 3)).toBe(0);
    expect(repeatedShare('', 3)).toBe(0);
  });
  it('findLeftover names field names, file names and prompt markers', () => {
    expect(findLeftover('see final_answer here')).toMatch(/field name "final_answer"/);
    expect(findLeftover('read data.jsonl first')).toMatch(/file name "data.jsonl"/);
    expect(findLeftover('x {{problem}} y')).toMatch(/prompt marker/);
    expect(findLeftover('Define $\\text{{J}}(a,b,c)$ for nonzero $a$.')).toBeNull();
    expect(findLeftover('Find the solution of $x^2=4$.')).toBeNull();
  });
  it('asksSomething and isSentence', () => {
    expect(asksSomething('Compute $2+2$.')).toBe(true);
    expect(asksSomething('How many apples remain')).toBe(true);
    expect(asksSomething('ما هو ناتج ٢ + ٢؟')).toBe(true);
    expect(asksSomething('The sky is blue.')).toBe(false);
    expect(isSentence('\\frac{\\sqrt{3}}{2}', 6)).toBe(false);
    expect(isSentence('\\text{the answer is that there are many}', 6)).toBe(true);
  });
});

describe('gates never crash on odd text (property tests)', () => {
  const odd = fc.oneof(
    fc.string(),
    fc.string({ unit: 'grapheme', maxLength: 400 }),
    fc.constant(''),
    fc.constant('x'.repeat(20_000)),
    fc.constantFrom('\\frac{\\frac{1}{2}}{\\sqrt{\\boxed{\\boxed{3}}}}', '\\boxed{', '}}}{{{', '$$$$', '####', '#### ', '<<<>>>', '{{}}', 'مسألة: أوجد قيمة س إذا كان ٢س = ٤؟', 'שאלה: מהו הסכום?'),
    fc.array(fc.constantFrom('\\frac{', '}', '{', '\\boxed{', 'x', ' ', '#', 'ש', 'ع', '$', '\\', '1', ',', '.', '?'), { maxLength: 300 }).map((a) => a.join('')),
  );
  it('return a result for any problem, solution and final answer', () => {
    fc.assert(
      fc.property(odd, odd, odd, (problem, solution, final_answer) => {
        for (const pack of [math, gsm]) {
          const r = checkGates({ problem, solution, final_answer }, pack.gates, pack.normalizer);
          expect(typeof r.passed).toBe('boolean');
          expect(r.passed ? r.reason : r.reason?.startsWith('gate:')).toBe(r.passed ? null : true);
        }
      }),
      { numRuns: 300 },
    );
  });
  it('handle 20,000-character texts quickly', () => {
    const long = 'word '.repeat(4000);
    const t0 = performance.now();
    expect(check({ problem: long, solution: long, final_answer: long }).passed).toBe(false);
    expect(performance.now() - t0).toBeLessThan(500);
  });
  it('tolerate values that are not strings at all', () => {
    expect(check({ problem: null, solution: undefined, final_answer: 42 } as unknown as GateInput)).toMatchObject({ passed: false, reason: 'gate:length' });
  });
});
