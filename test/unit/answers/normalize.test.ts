import { describe, expect, it } from 'vitest';
import { answersAgree, boxedContents, checkNormalizerSpec, extractAnswer, normalizeAnswer, numericValue, unboxAll, type NormalizerSpec } from '../../../core/answers/index.ts';
import { loadDomain } from '../../../services/runtime/domains.ts';

const math: NormalizerSpec = loadDomain('competition-math').normalizer;
const gsm: NormalizerSpec = loadDomain('grade-school-math').normalizer;

describe('extractAnswer', () => {
  it('takes the last \\boxed{} with nested braces, or what follows the last ####', () => {
    expect(extractAnswer('First \\boxed{1}, then $\\boxed{\\frac{1}{2}}$.', ['boxed'])).toBe('\\frac{1}{2}');
    expect(extractAnswer('She pays <<48/2=24>>24 dollars.\n#### 24', ['hashes'])).toBe('24');
    expect(extractAnswer('#### 1,200\n', ['hashes', 'boxed'])).toBe('1,200');
    expect(extractAnswer('no answer here', ['boxed', 'hashes'])).toBeNull();
    expect(extractAnswer('\\boxed{unclosed', ['boxed'])).toBeNull();
    expect(boxedContents('\\fbox{a} and \\boxed {b}')).toEqual(['a', 'b']);
    expect(unboxAll('x = \\boxed{\\frac{1}{\\boxed{2}}}!')).toBe('x = \\frac{1}{2}!');
  });
});

describe('normalizeAnswer (each step)', () => {
  const cases: Array<[string, NormalizerSpec, string]> = [
    ['\\boxed{5}', math, '5'],
    ['\\frac{1}{2}', math, '1/2'],
    ['\\dfrac12', math, '1/2'],
    ['\\tfrac{x+1}{3}', math, '(x+1)/3'],
    ['$18$', math, '18'],
    ['90^\\circ', math, '90'],
    ['90^{\\circ}', math, '90'],
    ['1,234,567', math, '1234567'],
    ['(1,2)', math, '(1,2)'], // a pair, not a thousands separator
    ['12 \\text{ cm}^2', math, '12'],
    ['\\text{(B)}', math, '(B)'],
    ['25\\%', math, '25'],
    ['x \\, = \\; 3', math, 'x=3'],
    ['$1,200', gsm, '1200'],
    ['18 dollars', gsm, '18'],
    ['40 minutes.', gsm, '40'],
    ['#### 7', gsm, '####7'],
  ];
  it.each(cases)('%s', (input, spec, out) => expect(normalizeAnswer(input, spec)).toBe(out));
});

describe('answersAgree', () => {
  it('compares canonical forms, and numbers by value', () => {
    expect(answersAgree('\\frac{1}{2}', '0.5', math)).toBe(true);
    expect(answersAgree('\\boxed{\\dfrac12}', '1/2', math)).toBe(true);
    expect(answersAgree('(x - 1)^2 + (y - 2)^2 = 25', '(x-1)^2+(y-2)^2=25', math)).toBe(true);
    expect(answersAgree('$1,200', '1200 dollars', gsm)).toBe(true);
    expect(answersAgree('24', '25', gsm)).toBe(false);
    expect(answersAgree('', '', gsm)).toBe(false);
    expect(answersAgree('x', 'y', math)).toBe(false);
    expect(numericValue('-3/4')).toBe(-0.75);
    expect(numericValue('(3)/(4)')).toBe(0.75);
    expect(numericValue('1/0')).toBeNull();
    expect(numericValue('x+1')).toBeNull();
  });
});

describe('checkNormalizerSpec', () => {
  it('names a wrong location or step', () => {
    expect(() => checkNormalizerSpec({ locations: ['end'], steps: [] })).toThrow(/"locations" must list/);
    expect(() => checkNormalizerSpec({ locations: ['boxed'], steps: ['magic'] })).toThrow(/"steps" must list/);
    expect(() => checkNormalizerSpec(null)).toThrow(/expected an object/);
    expect(checkNormalizerSpec({ locations: ['hashes'], steps: ['spaces'] })).toEqual({ locations: ['hashes'], steps: ['spaces'] });
  });
});
