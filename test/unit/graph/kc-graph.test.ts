import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KcGraph } from '../../../core/graph/index.ts';

const kcId = fc.integer({ min: 0, max: 14 }).map((i) => `kc-${i}`);
const seedList = fc.uniqueArray(
  fc.record({ id: fc.string({ minLength: 1, maxLength: 6 }), kcIds: fc.array(kcId, { minLength: 1, maxLength: 5 }) }),
  { selector: (s) => s.id, maxLength: 25 },
);

function build(seeds: { id: string; kcIds: string[] }[]): KcGraph {
  const g = new KcGraph();
  for (const s of seeds) g.addSeed(s.id, s.kcIds);
  return g;
}

describe('KcGraph.addSeed', () => {
  it('counts frequencies and co-occurrence weights, mirrored in graphology', () => {
    const g = new KcGraph();
    expect(g.addSeed('s1', ['a', 'b', 'c'])).toEqual({ added: true, newNodes: 3, newEdges: 3 });
    expect(g.addSeed('s2', ['b', 'c', 'c', 'd'])).toEqual({ added: true, newNodes: 1, newEdges: 2 });
    expect(g.frequencyOf('c')).toBe(2);
    expect(g.frequencyOf('a')).toBe(1);
    expect(g.weightOf('b', 'c')).toBe(2);
    expect(g.weightOf('a', 'd')).toBe(0);
    expect(g.graph.order).toBe(4);
    expect(g.graph.size).toBe(5);
    expect(g.graph.getNodeAttribute('c', 'frequency')).toBe(2);
    expect(g.graph.getEdgeAttribute('c', 'b', 'weight')).toBe(2);
    expect(g.seedsOf('c')).toEqual(['s1', 's2']);
  });

  it('ignores a redelivered seed and rejects a conflicting one', () => {
    const g = new KcGraph();
    g.addSeed('s1', ['a', 'b']);
    const v = g.version;
    expect(g.addSeed('s1', ['b', 'a', 'a'])).toEqual({ added: false, newNodes: 0, newEdges: 0 });
    expect(g.version).toBe(v);
    expect(g.weightOf('a', 'b')).toBe(1);
    expect(g.frequencyOf('a')).toBe(1);
    expect(() => g.addSeed('s1', ['a', 'c'])).toThrow(/already added with different KCs/);
  });

  it('rejects bad input with a clear error', () => {
    const g = new KcGraph();
    expect(() => g.addSeed('s', [])).toThrow(/kcIds must be a non-empty array/);
    expect(() => g.addSeed('', ['a'])).toThrow(/seedId must be a non-empty string/);
    expect(() => g.addSeed('s', ['a', ''])).toThrow(/non-empty string/);
    expect(() => g.addSeed('s', ['a|b'])).toThrow(/key separator/);
    expect(() => g.addSeed('s', [3 as unknown as string])).toThrow(/non-empty string/);
    expect(g.seedCount).toBe(0);
  });

  it('logs new edges so a sampler can catch up', () => {
    const g = new KcGraph();
    g.addSeed('s1', ['a', 'b']);
    const before = g.edgeCount;
    g.addSeed('s2', ['a', 'b', 'c']);
    const fresh = g.edgesSince(before).map((i) => g.idOf(i));
    expect(fresh.length).toBe(4);
    expect(new Set(fresh)).toEqual(new Set(['a', 'b', 'c']));
    expect(fresh).toContain('c');
  });

  it('graphology graph, adjacency and seed index agree with the seeds (property)', () => {
    fc.assert(
      fc.property(seedList, (seeds) => {
        const g = build(seeds);
        const sets = seeds.map((s) => new Set(s.kcIds));
        const ids = [...new Set(seeds.flatMap((s) => s.kcIds))];
        expect(g.graph.order).toBe(ids.length);
        for (const a of ids) {
          expect(g.graph.getNodeAttribute(a, 'frequency')).toBe(sets.filter((s) => s.has(a)).length);
          for (const b of ids) {
            if (a >= b) continue;
            const together = sets.filter((s) => s.has(a) && s.has(b)).length;
            expect(g.weightOf(a, b)).toBe(together);
            expect(g.graph.hasEdge(a, b)).toBe(together > 0);
            if (together > 0) expect(g.graph.getEdgeAttribute(a, b, 'weight')).toBe(together);
          }
        }
        // novelty index against brute force on random triples
        for (let i = 0; i + 2 < ids.length; i += 2) {
          const trio = [ids[i], ids[i + 1], ids[i + 2]];
          const brute = sets.some((s) => trio.every((k) => s.has(k)));
          expect(g.someSeedContainsAll(trio.map((k) => g.indexOf(k) as number))).toBe(brute);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('someSeedContainsAll matches brute force on every set of 1-4 KCs, repeats included, across added seeds (property)', () => {
    fc.assert(
      fc.property(seedList, seedList, fc.array(fc.array(kcId, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 30 }), (first, later, queries) => {
        const g = new KcGraph();
        const added: Set<string>[] = [];
        for (const batch of [first, later]) {
          for (const s of batch) {
            if (g.addSeed(`${added.length}-${s.id}`, s.kcIds).added) added.push(new Set(s.kcIds));
          }
          g.snapshot(); // a cached snapshot must not outlive the next seeds
          for (const q of queries) {
            const indices = q.map((k) => g.indexOf(k));
            if (indices.some((u) => u === undefined)) continue;
            const brute = added.some((set) => q.every((k) => set.has(k)));
            expect(g.someSeedContainsAll(indices as number[]), q.join(',')).toBe(brute);
          }
        }
      }),
      { numRuns: 80 },
    );
  });
});
