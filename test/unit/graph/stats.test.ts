import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KcGraph } from '../../../core/graph/index.ts';

describe('KcGraph.stats', () => {
  it('reports size, degrees, components and hubs of a known graph', () => {
    const g = new KcGraph();
    g.addSeed('s1', ['a', 'b', 'c', 'd']); // K4
    g.addSeed('s2', ['d', 'e']);
    g.addSeed('s3', ['x', 'y']);
    g.addSeed('s4', ['lonely']);
    const s = g.stats(2);
    expect(s.nodes).toBe(8);
    expect(s.edges).toBe(8);
    expect(s.seeds).toBe(4);
    expect(s.totalWeight).toBe(8);
    expect(s.components).toEqual({ count: 3, largest: 5, isolated: 1 });
    expect(s.hubs).toEqual([
      { id: 'd', degree: 4, frequency: 2 },
      { id: 'a', degree: 3, frequency: 1 },
    ]);
    expect(s.degree.min).toBe(0);
    expect(s.degree.max).toBe(4);
    expect(s.degree.mean).toBe(2);
    expect(s.degree.histogram).toEqual([
      { from: 0, to: 0, count: 1 },
      { from: 1, to: 1, count: 3 },
      { from: 2, to: 3, count: 3 },
      { from: 4, to: 7, count: 1 },
    ]);
  });

  it('component count agrees with a union-find over the seeds (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 4 }), { maxLength: 20 }),
        (seeds) => {
          const g = new KcGraph();
          seeds.forEach((s, i) => g.addSeed(`s${i}`, s.map((k) => `k${k}`)));
          const parent = new Map<number, number>();
          const find = (x: number): number => {
            while (parent.get(x) !== x) x = parent.get(x) as number;
            return x;
          };
          for (const s of seeds) for (const k of s) if (!parent.has(k)) parent.set(k, k);
          for (const s of seeds) for (const k of s) parent.set(find(k), find(s[0]));
          const roots = new Set([...parent.keys()].map(find));
          const st = g.stats();
          expect(st.components.count).toBe(roots.size);
          expect(st.degree.histogram.reduce((a, b) => a + b.count, 0)).toBe(st.nodes);
        },
      ),
      { numRuns: 60 },
    );
  });
});
