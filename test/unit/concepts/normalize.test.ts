import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeKcName, singularize } from '../../../core/concepts/index.ts';

describe('normalizeKcName', () => {
  it.each([
    ['Theorems', 'theorem'],
    ['Parabolas', 'parabola'],
    ['  Law   of  Cosines ', 'law of cosine'],
    ['Properties of Logarithms.', 'property of logarithm'],
    ['1. Vieta\u2019s formulas', "vieta's formula"],
    ['**Sum of squares**', 'sum of square'],
    ['$a^2 + b^2 = c^2$', 'a^2+b^2=c^2'],
    ['\\(a^2+b^2=c^2\\)', 'a^2+b^2=c^2'],
    ['$\\sin^2 x\\,+\\;\\cos^2 x = 1$', '\\sin^2 x+\\cos^2 x=1'],
    ['\\text{Area} of circles', 'area of circle'],
    ['Ｉｎｅｑｕａｌｉｔｉｅｓ', 'inequality'],
    ['x-intercepts', 'x-intercept'],
    ['Vertices of a polygon', 'vertex of a polygon'],
    ['Classes of residues', 'class of residue'],
    ['n!', 'n!'],
  ])('%j -> %j', (input, expected) => {
    expect(normalizeKcName(input)).toBe(expected);
  });

  it.each(['Pythagoras', 'analysis', 'series', 'axis', 'locus', 'basis', 'radius', 'calculus', 'combinatorics', 'Bayes', 'odds', 'bases', 'Archimedes', 'continuous', 'gas', 'sss', 'cos'])(
    'keeps the non-plural %j',
    (word) => {
      expect(normalizeKcName(word)).toBe(word.toLowerCase());
    },
  );

  it('leaves LaTeX command names alone and handles irregular plurals', () => {
    expect(normalizeKcName('\\angles')).toBe('\\angles');
    expect(singularize('matrices')).toBe('matrix');
    expect(singularize('foci')).toBe('focus');
    expect(singularize('hypotheses')).toBe('hypothesis');
  });

  it('is idempotent and insensitive to case and outer whitespace (property)', () => {
    const word = fc.constantFrom('theorems', 'Law', 'of', 'cosines', 'series', '$x^2$', '\\,', 'axes', 'Pythagoras', 'lines', '+', '=', 'circle.', 'Sums');
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 6 }), fc.constantFrom(' ', '  ', '\t'), (words, sep) => {
        const name = words.join(sep);
        const n = normalizeKcName(name);
        expect(normalizeKcName(n)).toBe(n);
        expect(normalizeKcName(`  ${name.toUpperCase()} `)).toBe(normalizeKcName(name));
      }),
      { numRuns: 500, seed: 3 },
    );
  });

  it('rejects non-strings', () => {
    expect(() => normalizeKcName(42 as never)).toThrow(/expected a string/);
  });
});

describe('implausibleKcName', () => {
  it('drops letters, numbers and placeholders, keeps real concept names', async () => {
    const { implausibleKcName } = await import('../../../core/concepts/index.ts');
    for (const bad of ['a', '1', 'x2', '  ', 'Concept', 'concepts', 'key concept', '$3$', 'N/A', 'same']) expect(implausibleKcName(bad), bad).not.toBeNull();
    for (const good of ['Pythagorean theorem', 'area', 'sum of roots', 'GCD', 'Vieta\'s formulas', 'prime factorization']) expect(implausibleKcName(good), good).toBeNull();
  });
});
