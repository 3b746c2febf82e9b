import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GRAPH_FORMAT_VERSION, KcGraph, restoreGraph, serializeGraph } from '../../../core/graph/index.ts';

const seedList = fc.uniqueArray(
  fc.record({
    id: fc.string({ minLength: 1, maxLength: 8 }),
    kcIds: fc.array(fc.constantFrom('α', 'beta', 'c', 'δέλτα', 'e', 'f', 'g', 'h', 'i'), { minLength: 1, maxLength: 5 }),
  }),
  { selector: (s) => s.id, minLength: 1, maxLength: 30 },
);

function build(seeds: { id: string; kcIds: string[] }[]): KcGraph {
  const g = new KcGraph();
  for (const s of seeds) g.addSeed(s.id, s.kcIds);
  return g;
}

describe('KcGraph serialize / restore', () => {
  it('gives identical bytes for the same content in any insertion order, and round-trips', () => {
    fc.assert(
      fc.property(seedList, fc.integer(), (seeds, salt) => {
        const shuffled = seeds
          .map((s, i) => ({ s: { id: s.id, kcIds: [...s.kcIds].reverse() }, k: (i * 2654435761 + salt) >>> 0 }))
          .sort((a, b) => a.k - b.k)
          .map((x) => x.s);
        const a = build(seeds);
        const b = build(shuffled);
        const bytes = serializeGraph(a);
        expect(serializeGraph(b)).toEqual(bytes);
        const restored = restoreGraph(bytes);
        expect(serializeGraph(restored)).toEqual(bytes);
        expect(restored.stats()).toEqual(a.stats());
        expect(new Map([...restored.seeds()])).toEqual(new Map([...a.seeds()]));
        for (const node of a.graph.nodes()) {
          expect(restored.graph.getNodeAttribute(node, 'frequency')).toBe(a.graph.getNodeAttribute(node, 'frequency'));
        }
        a.graph.forEachEdge((_e, attr, s, t) => expect(restored.weightOf(s, t)).toBe(attr.weight));
      }),
      { numRuns: 80 },
    );
  });

  it('different content gives different bytes', () => {
    const a = build([{ id: 's1', kcIds: ['a', 'b'] }]);
    const b = build([{ id: 's1', kcIds: ['a', 'c'] }]);
    expect(serializeGraph(a)).not.toEqual(serializeGraph(b));
  });

  it('rejects bad bytes with a clear error', () => {
    const bytes = serializeGraph(build([{ id: 's1', kcIds: ['a', 'b'] }, { id: 's2', kcIds: ['b', 'c'] }]));
    expect(() => restoreGraph(new Uint8Array(0))).toThrow(/too short/);
    const badMagic = bytes.slice();
    badMagic[0] ^= 0xff;
    expect(() => restoreGraph(badMagic)).toThrow(/bad magic/);
    const badVersion = bytes.slice();
    badVersion[7] = GRAPH_FORMAT_VERSION + 1;
    expect(() => restoreGraph(badVersion)).toThrow(/unsupported format version/);
    const flipped = bytes.slice();
    flipped[12] ^= 0x01;
    expect(() => restoreGraph(flipped)).toThrow(/checksum/);
    expect(() => restoreGraph(bytes.slice(0, bytes.length - 3))).toThrow(/checksum|too short/);
    expect(() => restoreGraph('nope' as unknown as Uint8Array)).toThrow(/Uint8Array/);
  });
});
