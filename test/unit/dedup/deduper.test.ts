import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDeduper, Deduper, normalizeForDedup, shingleHashes } from '../../../core/dedup/index.ts';
import { canonicalJson } from '../../../core/util/hash.ts';
import { REPO_ROOT } from '../../../services/runtime/config.ts';

const MATH = path.join(REPO_ROOT, '..', 'shared', 'data', 'math');
const readProblems = (file: string): string[] =>
  readFileSync(path.join(MATH, file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line).problem as string);

function trueJaccard(a: string, b: string): number {
  const A = new Set(shingleHashes(normalizeForDedup(a), 3));
  const B = new Set(shingleHashes(normalizeForDedup(b), 3));
  let both = 0;
  for (const x of A) if (B.has(x)) both++;
  return both / (A.size + B.size - both);
}

describe('dedup against real MATH train seeds', () => {
  let train: string[];
  let d: Deduper;
  // The first train problem of more than 45 words without an [asy] figure.
  let target: number;

  beforeAll(() => {
    train = readProblems('train.jsonl');
    d = createDeduper();
    train.forEach((p, i) => d.addReference(`math-train-${i}`, p));
    target = train.findIndex((p) => p.split(/\s+/).length > 45 && !p.includes('[asy]'));
  });

  it('catches a reworded near-copy of a seed and names the seed', () => {
    const original = train[target];
    const words = original.split(' ');
    expect(words.length).toBeGreaterThan(30);
    // Rewording: two words swapped for synonyms near the end, a sentence joined, LaTeX spacing changed.
    const i = words.length - 4;
    const reworded = [...words.slice(0, i), 'kindly', ...words.slice(i + 1)].join(' ').replace(/\. /, '; ').replace(/\$/g, ' $ ');
    const result = d.check(reworded);
    expect(result).toMatchObject({ duplicate: true, kind: 'near', matchId: `math-train-${target}`, against: 'reference' });
    if (result.duplicate) expect(result.similarity).toBeGreaterThanOrEqual(0.8);
  });

  it('calls a copy differing only in case, punctuation and LaTeX spacing exact', () => {
    const original = train[target];
    const noisy = original.toUpperCase().replace(/,/g, ' ,').replace(/ /g, '  ').replace(/\$/g, '$\\,');
    expect(normalizeForDedup(noisy)).toBe(normalizeForDedup(original));
    expect(d.check(noisy)).toEqual({ duplicate: true, kind: 'exact', matchId: `math-train-${target}`, similarity: 1, against: 'reference' });
  });

  it('does not flag unrelated problems', () => {
    expect(d.check('A farmer plants 12 rows of 17 apple trees and sells every third tree to a neighbour. How many trees remain on the farm after the sale?')).toEqual({ duplicate: false });
    // MATH test and train share no problem text, but a few test problems are templated twins of train ones
    // (same wording, other numbers). Whatever is flagged must be such a twin: high true shingle Jaccard.
    const test = readProblems('test.jsonl').slice(0, 300);
    const flagged = test.map((p) => ({ p, r: d.check(p) })).filter((x) => x.r.duplicate);
    expect(flagged.length).toBeLessThanOrEqual(10);
    for (const { p, r } of flagged) {
      if (!r.duplicate) continue;
      const seed = train[Number(r.matchId.replace('math-train-', ''))];
      expect(trueJaccard(p, seed)).toBeGreaterThanOrEqual(0.7);
    }
  });

  it('checks against accepted outputs too, and checkAndAdd adds only the new', () => {
    const local = createDeduper();
    const text =
      'Let $f(x) = 3x^2 - 5x + 2$ and let $g(x) = f(x) - x$. Find the sum of all real values of $x$ for which $f(f(x)) = 2$ holds, ' +
      'given that the graph of $g$ crosses the horizontal axis exactly twice, and express the answer as a common fraction.';
    expect(local.checkAndAdd('gen-1', text)).toEqual({ duplicate: false });
    expect(local.checkAndAdd('gen-2', text.replace('crosses', 'meets'))).toMatchObject({ duplicate: true, kind: 'near', matchId: 'gen-1', against: 'accepted' });
    expect(local.stats().accepted).toBe(1);
  });
});

describe('bounded memory and state', () => {
  const text = (i: number) => `Problem ${i}: a bag holds ${i} red marbles and ${i + 7} blue ones, drawn ${i % 5} at a time without replacement; item ${i * 31} of the set`;

  it('keeps at most `capacity` accepted items, evicting the oldest, and stops growing', () => {
    const d = createDeduper({ capacity: 100 });
    for (let i = 0; i < 100; i++) d.add(`a${i}`, text(i));
    const bytesAtCapacity = d.stats().typedBytes;
    for (let i = 100; i < 250; i++) d.add(`a${i}`, text(i));
    expect(d.stats()).toMatchObject({ accepted: 100, evicted: 150, capacity: 100 });
    expect(d.stats().typedBytes).toBe(bytesAtCapacity);
    expect(d.check(text(10))).toEqual({ duplicate: false }); // evicted: no longer caught
    expect(d.check(text(200))).toMatchObject({ duplicate: true, kind: 'exact', matchId: 'a200' });
  });

  it('exports and imports state exactly, including after eviction, and is deterministic per seed', () => {
    const build = (seed: number) => {
      const d = createDeduper({ capacity: 50, seed });
      d.addReference('seed-1', 'Compute the number of positive divisors of 3600 that are perfect squares.');
      for (let i = 0; i < 80; i++) d.add(`a${i}`, text(i));
      return d;
    };
    const a = build(7);
    const state = a.exportState();
    expect(canonicalJson(build(7).exportState())).toBe(canonicalJson(state));
    expect(canonicalJson(build(8).exportState())).not.toBe(canonicalJson(state));
    const restored = Deduper.importState(JSON.parse(JSON.stringify(state)));
    expect(canonicalJson(restored.exportState())).toBe(canonicalJson(state));
    for (const probe of [text(79), text(5), 'Compute the number of positive divisors of 3600 which are perfect squares.']) {
      expect(restored.check(probe)).toEqual(a.check(probe));
    }
    // Both continue identically: the ring's oldest item is evicted next in both.
    a.add('z', text(1000));
    restored.add('z', text(1000));
    expect(canonicalJson(restored.exportState())).toBe(canonicalJson(a.exportState()));
    expect(() => Deduper.importState({ ...state, format: 'nope' } as never)).toThrow(/unknown state format/);
  });

  it('rejects bad options and ids with clear messages', () => {
    expect(() => createDeduper({ numPerm: 100, bands: 32 })).toThrow(/bands must divide numPerm/);
    expect(() => createDeduper({ threshold: 0 })).toThrow(/threshold/);
    expect(() => createDeduper().add('', 'x')).toThrow(/id must be a non-empty string/);
  });
});
