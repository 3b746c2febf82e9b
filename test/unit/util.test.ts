import { describe, expect, it } from 'vitest';
import { canonicalJson, deterministicId } from '../../core/util/hash.ts';
import { createRng } from '../../core/util/rng.ts';

describe('canonicalJson / deterministicId', () => {
  it('does not depend on key order and changes with stage, prompt version or input', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: [3, { f: 1, e: 0 }] } })).toBe('{"a":{"c":[3,{"e":0,"f":1}],"d":2},"b":1}');
    const id = deterministicId('extract', 'v1', { problem: 'p', solution: 's' });
    expect(deterministicId('extract', 'v1', { solution: 's', problem: 'p' })).toBe(id);
    expect(deterministicId('extract', 'v2', { problem: 'p', solution: 's' })).not.toBe(id);
    expect(deterministicId('filter', 'v1', { problem: 'p', solution: 's' })).not.toBe(id);
    expect(deterministicId('extract', 'v1', { problem: 'p', solution: 't' })).not.toBe(id);
    expect(id).toMatch(/^extract-[0-9a-f]{24}$/);
  });
});

describe('createRng', () => {
  it('is reproducible for a seed, restorable from its state, and roughly uniform', () => {
    const a = createRng(42);
    const b = createRng(42);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(Array.from({ length: 1000 }, () => b.next())).toEqual(xs);
    const resumed = createRng(a.state());
    expect(resumed.next()).toBe(a.next());
    expect(createRng(43).next()).not.toBe(createRng(42).next());
    const counts = new Array(10).fill(0);
    const r = createRng(7);
    for (let i = 0; i < 100_000; i++) counts[r.int(10)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(() => r.int(0)).toThrow(/positive integer/);
  });
});
