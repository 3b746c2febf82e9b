import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createNgramIndex, NgramIndex, normalizeForDecontam, type BenchmarkRecord } from '../../../core/decontam/index.ts';
import { loadBenchmarkRecords } from '../../../services/runtime/benchmarks.ts';
import { REPO_ROOT } from '../../../services/runtime/config.ts';

const DATA = path.join(REPO_ROOT, 'data', 'benchmarks');

describe('normalization', () => {
  it('lowercases and deletes punctuation, as the paper does', () => {
    expect(normalizeForDecontam("What's  $x^2+1$, if X = 3?")).toEqual(['whats', 'x21', 'if', 'x', '3']);
  });
});

describe('decontamination against the real MATH test set', () => {
  let records: BenchmarkRecord[];
  let index: NgramIndex;
  beforeAll(async () => {
    records = await loadBenchmarkRecords(path.join(DATA, 'math', 'test.jsonl.gz'), {
      textField: 'problem',
      source: 'math',
      idsFile: path.join(DATA, 'math', 'test.files.txt.gz'),
    });
    index = createNgramIndex(records);
  });

  it('loads all 5000 MATH test problems with their file ids', () => {
    expect(records).toHaveLength(5000);
    expect(records[0]).toMatchObject({ id: 'test/algebra/1.json', source: 'math' });
    expect(index.distinctNgrams).toBeGreaterThan(100_000);
  });

  it('finds a planted 13-gram copy of a MATH test problem inside new text, and names the item', () => {
    const victim = records.find((r) => normalizeForDecontam(r.text).length >= 30 && !r.text.includes('[asy]'))!;
    const words = victim.text.split(/\s+/);
    // 13 consecutive words of the original (taken from the middle), then new text around them.
    const start = Math.floor((words.length - 13) / 2);
    const planted = words.slice(start, start + 13).join(' ');
    const candidate = `Zebra quilting enthusiasts gather monthly. ${planted} Afterwards everyone drinks lukewarm cocoa beside seventeen purple umbrellas.`;
    const r = index.check(candidate);
    expect(r.contaminated).toBe(true);
    expect(r.match).toEqual({ id: victim.id, source: 'math' });
    expect(r.hitNs).toEqual([8, 10, 13]);
    // At least the 13 planted words (normalization may merge or drop punctuation-only tokens).
    expect(r.longestOverlap).toBeGreaterThanOrEqual(normalizeForDecontam(planted).length);
  });

  it('a 9-word copy hits 8-grams only; an unrelated problem hits nothing', () => {
    const victim = records.find((r) => normalizeForDecontam(r.text).length >= 30 && !r.text.includes('[asy]'))!;
    const nine = normalizeForDecontam(victim.text).slice(3, 12).join(' ');
    const r9 = index.check(`Completely fresh opening words here, then ${nine} and a fresh ending follows now.`);
    expect(r9.hitNs).toEqual([8]);
    expect(r9.longestOverlap).toBeGreaterThanOrEqual(9);
    const unrelated = index.check(
      'A lighthouse keeper records that the beam completes 7 rotations every 3 minutes. If the keeper logs rotations for 2 hours and 15 minutes, how many full rotations are recorded, and what fraction of a rotation is left over?',
    );
    expect(unrelated).toMatchObject({ contaminated: false, longestOverlap: 0, match: null, hitNs: [] });
  });
});

describe('contamination rates', () => {
  const bench: BenchmarkRecord[] = [
    { id: 'a1', source: 'A', text: 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen' },
    { id: 'b1', source: 'B', text: 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi' },
  ];
  it('computes per-n, per-source and overall shares on a tiny corpus', () => {
    const index = createNgramIndex(bench);
    const corpus = [
      'x one two three four five six seven eight y', // 8-gram of A only
      'one two three four five six seven eight nine ten eleven twelve thirteen', // 8, 10, 13 of A
      'alpha beta gamma delta epsilon zeta eta theta iota kappa z', // 8 and 10 of B
      'nothing in common at all with either benchmark item here today',
    ];
    const rates = index.contaminationRates(corpus);
    expect(rates.items).toBe(4);
    expect(rates.overall.byN).toEqual({ 8: 0.75, 10: 0.5, 13: 0.25 });
    expect(rates.overall.any).toBe(0.75);
    expect(rates.bySource.A.byN).toEqual({ 8: 0.5, 10: 0.25, 13: 0.25 });
    expect(rates.bySource.A.any).toBe(0.5);
    expect(rates.bySource.B.byN).toEqual({ 8: 0.25, 10: 0.25, 13: 0 });
    expect(rates.bySource.B.any).toBe(0.25);
  });

  it('honours configured n and rejects bad ones', () => {
    const index = createNgramIndex(bench, [3]);
    expect(index.check('so five six seven we go').hitNs).toEqual([3]);
    expect(() => createNgramIndex([], [0])).toThrow(/positive integers/);
    expect(() => index.add({ id: 'x', text: 5 } as never)).toThrow(/string id, text and source/);
  });
});
