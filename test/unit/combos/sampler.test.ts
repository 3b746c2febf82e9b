import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSampler, type Combination, type Relation } from '../../../core/combos/index.ts';
import { generateSeeds } from '../../../bench/kc-graph-gen.ts';
import { buildGraph, drain, Oracle, type SeedSpec } from './oracle.ts';
import { restoreGraph, serializeGraph } from '../../../core/graph/index.ts';

/** Random seed lists over a small KC alphabet, so graphs have 2-hop, 3-hop and cliques. */
const seedsArb = fc
  .array(fc.array(fc.integer({ min: 0, max: 17 }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 22 })
  .map((lists): SeedSpec[] => lists.map((l, i) => ({ id: `s${i}`, kcIds: l.map((k) => `k${k}`) })));

const ALL: Partial<Record<Relation, number>> = { '1-hop': 1, '2-hop': 1, '3-hop': 1, community: 1, louvain: 1 };

function keysOf(cs: Combination[], relation?: Relation): Set<string> {
  return new Set(cs.filter((c) => !relation || c.relation === relation).map((c) => c.key));
}

describe('createSampler: every combination is valid and yielded once (property)', () => {
  it('drains a random graph: no repeats; hop = BFS; witness paths, cliques, novelty and weights are right', () => {
    fc.assert(
      fc.property(seedsArb, fc.integer(), fc.integer({ min: 1, max: 3 }), (seeds, seed, hubCount) => {
        const g = buildGraph(seeds);
        const sampler = createSampler(g, { seed, quotas: ALL, hubCount, missLimit: 16 });
        const out = drain((n) => sampler.next(n));
        expect(keysOf(out).size).toBe(out.length);
        const oracle = new Oracle(g, seeds);
        const hubs = sampler.hubs();
        expect(hubs.length).toBe(Math.min(hubCount, g.graph.nodes().filter((n) => g.graph.degree(n) > 0).length));
        for (const c of out) expect(oracle.violation(c, hubs), JSON.stringify(c)).toBeNull();
        expect(sampler.next(10)).toEqual([]);
      }),
      { numRuns: 120 },
    );
  });

  it('finds every candidate of each relation (compared with brute-force enumeration)', () => {
    fc.assert(
      fc.property(seedsArb, fc.integer(), (seeds, seed) => {
        const g = buildGraph(seeds);
        const oracle = new Oracle(g, seeds);
        const only = (r: Relation) => createSampler(g, { seed, quotas: { [r]: 1 }, hubCount: 2, missLimit: 8 });
        const drained = (r: Relation) => {
          const sampler = only(r);
          const out = drain((n) => sampler.next(n));
          expect(keysOf(out).size).toBe(out.length);
          return keysOf(out);
        };
        expect(drained('1-hop')).toEqual(new Set(g.graph.mapEdges((_e, _a, s, t) => [s, t].sort().join('|'))));
        expect(drained('2-hop')).toEqual(oracle.twoHopKeys());
        expect(drained('3-hop')).toEqual(oracle.threeHopKeys(only('3-hop').hubs()));
        expect(drained('community')).toEqual(oracle.cliqueKeys());
      }),
      { numRuns: 80 },
    );
  });
});

describe('createSampler: incremental updates', () => {
  it('never repeats across batches of new seeds, and yields the combinations the new edges opened', () => {
    fc.assert(
      fc.property(
        seedsArb,
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 6, maxLength: 6 }),
        fc.integer(),
        (seeds, cuts, takes, seed) => {
          const g = buildGraph([]);
          const sampler = createSampler(g, { seed, quotas: { '1-hop': 1, '2-hop': 2, '3-hop': 1, community: 1 }, hubCount: 2, missLimit: 8 });
          const yielded: Combination[] = [];
          let at = 0;
          for (let b = 0; at < seeds.length; b++) {
            const batch = seeds.slice(at, at + cuts[b % cuts.length]);
            at += batch.length;
            for (const s of batch) g.addSeed(s.id, s.kcIds);
            // a redelivered seed must not change anything
            g.addSeed(batch[0].id, batch[0].kcIds);
            const got = sampler.next(takes[b % takes.length]);
            const oracle = new Oracle(g, seeds.slice(0, at));
            const hubs = sampler.hubs();
            for (const c of got) expect(oracle.violation(c, hubs), JSON.stringify(c)).toBeNull();
            yielded.push(...got);
          }
          yielded.push(...drain((n) => sampler.next(n)));
          const keys = keysOf(yielded);
          expect(keys.size).toBe(yielded.length);
          // Everything at distance 2 now, every clique, every edge was yielded at some point.
          const oracle = new Oracle(g, seeds);
          for (const k of oracle.twoHopKeys()) expect(keys.has(k), k).toBe(true);
          for (const k of oracle.cliqueKeys()) expect(keys.has(k), k).toBe(true);
          for (const k of oracle.threeHopKeys(sampler.hubs())) expect(keys.has(k), k).toBe(true);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('serves the combinations opened by a new seed first (fresh phase), without re-sweeping', () => {
    const { seeds } = generateSeeds({ kcs: 400, seeds: 300, seed: 3 });
    const g = buildGraph(seeds);
    const sampler = createSampler(g, { seed: 1, quotas: { '2-hop': 1 } });
    sampler.next(500);
    const hub = g.stats(1).hubs[0];
    expect(hub.degree).toBeGreaterThan(20);
    g.addSeed('new-seed', ['new-a', 'new-b', hub.id]);
    // 2 * degree(hub) new 2-paths (new-a or new-b, hub, old neighbour): all come first.
    const got = sampler.next(2 * hub.degree);
    expect(got.length).toBe(2 * hub.degree);
    for (const c of got) expect(c.path[1] === hub.id && c.path.some((k) => k.startsWith('new-')), c.key).toBe(true);
    expect(sampler.next(20).filter((c) => c.path.some((k) => k.startsWith('new-'))).length).toBeLessThan(5);
  });
});

describe('createSampler: determinism, thresholds, quotas, novelty', () => {
  const { seeds } = generateSeeds({ kcs: 600, seeds: 450, seed: 11 });
  const g = buildGraph(seeds);
  const quotas = { '1-hop': 0.1, '2-hop': 0.5, '3-hop': 0.2, community: 0.2 };

  it('same seed -> same output; different seed -> different order', () => {
    const a = createSampler(g, { seed: 5, quotas }).next(2000);
    const b = createSampler(g, { seed: 5, quotas }).next(2000);
    const c = createSampler(g, { seed: 6, quotas }).next(2000);
    expect(b).toEqual(a);
    expect(c.map((x) => x.key)).not.toEqual(a.map((x) => x.key));
    expect(c.length).toBe(2000);
  });

  it('follows the quotas approximately', () => {
    const s = createSampler(g, { seed: 2, quotas });
    const out = s.next(2000);
    expect(out.length).toBe(2000);
    for (const [r, share] of Object.entries(quotas)) {
      expect(s.stats().perRelation[r].mode, r).not.toBe('exhausted');
      const got = out.filter((c) => c.relation === r).length / out.length;
      expect(Math.abs(got - share), r).toBeLessThan(0.01);
    }
  });

  it('fills in with the other relations when one runs dry', () => {
    const s = createSampler(g, { seed: 2, quotas: { '1-hop': 0.9, '2-hop': 0.1 } });
    const out = s.next(g.edgeCount + 1000);
    expect(out.filter((c) => c.relation === '1-hop').length).toBe(g.edgeCount);
    expect(out.length).toBe(g.edgeCount + 1000);
    expect(s.stats().perRelation['1-hop'].mode).toBe('exhausted');
  });

  it('novelOnly yields only novel combinations', () => {
    const out = createSampler(g, { seed: 3, novelOnly: true, quotas: { ...quotas, louvain: 0.1 } }).next(3000);
    expect(out.length).toBe(3000);
    expect(out.every((c) => c.novel)).toBe(true);
    expect(out.some((c) => c.relation === '1-hop')).toBe(false);
    expect(out.some((c) => c.relation === 'louvain' && c.extension === true)).toBe(true);
  });
});

describe('createSampler: the 3-hop witness', () => {
  // H's neighbours in index order: z1, z2, x2, x1; so a BFS from H reaches y2 (via x2) before y1 (via x1).
  const base: SeedSpec[] = [
    { id: '1', kcIds: ['H', 'z1'] },
    { id: '2', kcIds: ['H', 'z2'] },
    { id: '3', kcIds: ['H', 'x2'] },
    { id: '4', kcIds: ['H', 'x1'] },
    { id: '5', kcIds: ['x1', 'y1'] },
    { id: '6', kcIds: ['x2', 'y2'] },
    { id: '7', kcIds: ['y1', 'T'] },
    { id: '8', kcIds: ['y2', 'T'] },
  ];
  const witness = (seeds: SeedSpec[]) => {
    const g = buildGraph(seeds);
    const out = drain((n) => createSampler(g, { seed: 1, quotas: { '3-hop': 1 }, hubCount: 1 }).next(n), 100);
    return out.find((c) => c.key === 'H|T');
  };

  it('is the shortest path whose weakest edge is strongest', () => {
    const heavier = [...base, { id: '9', kcIds: ['H', 'x1'] }, { id: '10', kcIds: ['x1', 'y1'] }, { id: '11', kcIds: ['y1', 'T'] }];
    expect(witness(heavier)).toMatchObject({ path: ['H', 'x1', 'y1', 'T'], weight: 2, hop: 3 });
  });

  it('on a tie, is the path a breadth-first search from the hub finds first', () => {
    expect(witness(base)).toMatchObject({ path: ['H', 'x2', 'y2', 'T'], weight: 1, hop: 3 });
  });
});

describe('createSampler: weight threshold at its edge (weight == minWeight is kept)', () => {
  // b-m weighs 2 (two seeds), m-c weighs 2, m-d weighs 1.
  const seeds: SeedSpec[] = [
    { id: '1', kcIds: ['b', 'm'] },
    { id: '2', kcIds: ['b', 'm'] },
    { id: '3', kcIds: ['m', 'c'] },
    { id: '4', kcIds: ['m', 'c'] },
    { id: '5', kcIds: ['m', 'd'] },
  ];
  const twoHop = (minWeight: number) =>
    drain((n) => s.next(n), 100)
      .map((c) => `${c.key}:${c.weight}`)
      .sort()
      .join(' ') + (minWeight ? '' : '');
  let s = createSampler(buildGraph(seeds), { seed: 1, quotas: { '2-hop': 1 }, minWeight: 2 });

  it('keeps == threshold, drops below; explicit 1-hop pairs are never dropped', () => {
    s = createSampler(buildGraph(seeds), { seed: 1, quotas: { '2-hop': 1 }, minWeight: 2 });
    expect(twoHop(2)).toBe('b|c:2');
    s = createSampler(buildGraph(seeds), { seed: 1, quotas: { '2-hop': 1 }, minWeight: 2.5 });
    expect(twoHop(2.5)).toBe('');
    s = createSampler(buildGraph(seeds), { seed: 1, quotas: { '2-hop': 1 }, minWeight: 1 });
    expect(twoHop(1)).toBe('b|c:2 b|d:1 c|d:1');
    s = createSampler(buildGraph(seeds), { seed: 1, quotas: { '1-hop': 1 }, minWeight: 5 });
    expect(drain((n) => s.next(n)).length).toBe(3);
  });
});

describe('createSampler: exportState / importState', () => {
  const { seeds } = generateSeeds({ kcs: 500, seeds: 380, seed: 21 });
  const quotas = { '1-hop': 0.1, '2-hop': 0.5, '3-hop': 0.2, community: 0.1, louvain: 0.1 };

  it('is deterministic and continues exactly where it stopped, without repeats', () => {
    const g = buildGraph(seeds);
    const a = createSampler(g, { seed: 9, quotas });
    const first = a.next(3000);
    const firstKeys = keysOf(first);
    const seen = (k: string) => firstKeys.has(k);
    const state = a.exportState();
    expect(a.exportState()).toEqual(state);
    const twin = createSampler(g, { seed: 9, quotas });
    twin.next(3000);
    expect(twin.exportState()).toEqual(state);

    const b = createSampler(g, { seed: 9, quotas });
    b.importState(state);
    const restAfterImport = b.next(3000);
    const rest = a.next(3000);
    expect(restAfterImport.map((c) => c.key)).toEqual(rest.map((c) => c.key));
    expect(restAfterImport).toEqual(rest);
    // Other options: another order, still no repeats.
    const other = createSampler(g, { seed: 12345, quotas });
    other.importState(state);
    for (const c of other.next(3000)) expect(seen(c.key)).toBe(false);
    for (const c of rest) expect(seen(c.key)).toBe(false);
  });

  it('after a graph restore (canonical order) it continues without repeats to the same full set', () => {
    const quotas = { '1-hop': 0.1, '2-hop': 0.5, '3-hop': 0.2, community: 0.2 };
    const g = buildGraph(seeds.slice(0, 300));
    const a = createSampler(g, { seed: 4, quotas, missLimit: 32 });
    const first = a.next(2000);
    for (const s of seeds.slice(300)) g.addSeed(s.id, s.kcIds);
    first.push(...a.next(500)); // leaves fresh items pending
    const restored = restoreGraph(serializeGraph(g));
    const b = createSampler(restored, { seed: 4, quotas, missLimit: 32 });
    b.importState(a.exportState());
    const restB = drain((n) => b.next(n), 5_000_000);
    const restA = drain((n) => a.next(n), 5_000_000);
    const seen = keysOf(first);
    for (const c of restB) expect(seen.has(c.key)).toBe(false);
    expect(keysOf(restB).size).toBe(restB.length);
    // Same complement, possibly in another order (the restored graph indexes nodes differently).
    expect(keysOf(restB, '2-hop')).toEqual(keysOf(restA, '2-hop'));
    expect(keysOf(restB, 'community')).toEqual(keysOf(restA, 'community'));
  });

  it('rejects bad state bytes with a clear error', () => {
    const g = buildGraph(seeds);
    const a = createSampler(g, { seed: 1, quotas });
    a.next(100);
    const state = a.exportState();
    const b = createSampler(g, { seed: 1, quotas });
    expect(() => b.importState(new Uint8Array([1, 2, 3]))).toThrow(/too short/);
    expect(() => b.importState(serializeGraph(g))).toThrow(/bad magic/);
    const flipped = state.slice();
    flipped[20] ^= 0x40;
    expect(() => b.importState(flipped)).toThrow(/checksum/);
    const v2 = state.slice();
    v2[7] = 99;
    expect(() => b.importState(v2)).toThrow(/unsupported format version 99/);
  });
});

describe('createSampler: bad options', () => {
  const g = buildGraph([{ id: 's', kcIds: ['a', 'b'] }]);
  it('names what was wrong', () => {
    expect(() => createSampler(g, { seed: 1, quotas: { '5-hop': 1 } as never })).toThrow(/unknown relation "5-hop"/);
    expect(() => createSampler(g, { seed: 1, minWeight: -1 })).toThrow(/minWeight must be a finite number >= 0/);
    expect(() => createSampler(g, { seed: 1, quotas: { '2-hop': -0.5 } })).toThrow(/quota for "2-hop"/);
    expect(() => createSampler(g, { seed: 1, quotas: { '2-hop': 0 } })).toThrow(/at least one relation/);
    expect(() => createSampler(g, { seed: 1.5 })).toThrow(/seed must be an integer/);
    expect(() => createSampler(g, { seed: 1, hubCount: 2, hubFraction: 0.1 })).toThrow(/not both/);
    expect(() => createSampler(g, { seed: 1, hubCount: 0 })).toThrow(/hubCount/);
    expect(() => createSampler(g, { seed: 1, fourCliqueShare: 2 })).toThrow(/fourCliqueShare/);
    expect(() => createSampler(g, { seed: 1 }).next(-1)).toThrow(/non-negative integer/);
  });
});

describe('createSampler: louvain (our extension)', () => {
  const { seeds } = generateSeeds({ kcs: 400, seeds: 300, seed: 8 });

  it('labels its combinations as an extension and only yields non-clique groups of one community', () => {
    const g = buildGraph(seeds);
    const out = createSampler(g, { seed: 1, quotas: { louvain: 1 } }).next(500);
    expect(out.length).toBe(500);
    const oracle = new Oracle(g, seeds);
    for (const c of out) {
      expect(c.extension).toBe(true);
      expect(typeof c.community).toBe('number');
      expect(oracle.violation(c, [])).toBeNull();
    }
    expect(new Set(out.map((c) => c.kcIds.length))).toEqual(new Set([2, 3]));
  });

  it('recomputes communities only after the graph grew by louvainRefreshRatio, and new KCs join then', () => {
    const g = buildGraph(seeds);
    const lazy = createSampler(g, { seed: 1, quotas: { louvain: 1 }, louvainRefreshRatio: 0.5 });
    const eager = createSampler(g, { seed: 1, quotas: { louvain: 1 }, louvainRefreshRatio: 0 });
    lazy.next(10);
    eager.next(10);
    // A dense new cluster (many edges, but < 50% growth), linked to the graph by one KC.
    for (let i = 0; i < 12; i++) g.addSeed(`cluster-${i}`, [`new-${i}`, `new-${(i + 1) % 12}`, `new-${(i + 5) % 12}`, seeds[0].kcIds[0]]);
    const hasNew = (cs: Combination[]) => cs.some((c) => c.kcIds.some((k) => k.startsWith('new-')));
    expect(hasNew(lazy.next(3000))).toBe(false);
    expect(hasNew(eager.next(3000))).toBe(true);
  });
});

describe('markYielded: combinations found in the output log are never yielded again', () => {
  it('a second sampler told what the first yielded drains exactly the rest (property)', () => {
    fc.assert(
      fc.property(seedsArb, fc.integer(), fc.integer({ min: 0, max: 30 }), (seeds, seed, firstCount) => {
        const g = buildGraph(seeds);
        const reference = createSampler(g, { seed, quotas: ALL, missLimit: 16 });
        const all = keysOf(drain((n) => reference.next(n)));
        const first = createSampler(g, { seed, quotas: ALL, missLimit: 16 }).next(firstCount);
        const restarted = createSampler(g, { seed, quotas: ALL, missLimit: 16 });
        for (const c of first) expect(restarted.markYielded([...c.kcIds].reverse())).toBe(true);
        if (first.length > 0) expect(restarted.markYielded(first[0]!.kcIds)).toBe(false);
        const rest = drain((n) => restarted.next(n));
        const restKeys = keysOf(rest);
        for (const c of first) expect(restKeys.has(c.key)).toBe(false);
        expect(new Set([...keysOf(first), ...restKeys])).toEqual(all);
      }),
      { numRuns: 60 },
    );
  });
});
