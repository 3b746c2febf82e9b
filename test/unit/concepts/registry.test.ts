import { describe, expect, it, vi } from 'vitest';
import { createKcRegistry, KcRegistry, normalizeKcName, type KcRegistryOptions } from '../../../core/concepts/index.ts';
import { canonicalJson, shortHash } from '../../../core/util/hash.ts';
import { createRng } from '../../../core/util/rng.ts';

const DIM = 8;
/** Unit vector at cosine c with e0, leaning on axis `axis`. */
const at = (c: number, axis = 1): number[] => {
  const v = new Array(DIM).fill(0);
  v[0] = c;
  v[axis] = Math.sqrt(1 - c * c);
  return v;
};
const E0 = at(1);

describe.each(['exact', 'simhash'] as const)('thresholds at their edges (%s search)', (search) => {
  const make = (opts: KcRegistryOptions = {}) => {
    const synonymCheck = vi.fn(async () => false);
    const reg = createKcRegistry({ search, synonymCheck, ...opts });
    return { reg, synonymCheck };
  };

  it('cosine exactly 0.90 is the same KC (inclusive), without a synonym call', async () => {
    const { reg, synonymCheck } = make();
    const a = await reg.add({ name: 'law of cosines', embedding: E0 });
    const b = await reg.add({ name: 'cosine rule', embedding: at(0.9) });
    expect(b).toMatchObject({ id: a.id, outcome: 'embedding', calls: 0 });
    expect(b.similarity).toBeCloseTo(0.9, 5);
    expect(synonymCheck).not.toHaveBeenCalled();
  });

  it('just below 0.90 and exactly 0.70 go to the synonym check; its answer decides', async () => {
    for (const c of [0.9 - 1e-4, 0.7]) {
      const { reg, synonymCheck } = make();
      const a = await reg.add({ name: 'law of cosines', embedding: E0 });
      const no = await reg.add({ name: `candidate at ${c}`, embedding: at(c) });
      expect(no).toMatchObject({ outcome: 'new', calls: 1 });
      expect(no.id).not.toBe(a.id);
      expect(synonymCheck).toHaveBeenCalledWith({ name: `candidate at ${c}` }, { id: a.id, name: 'law of cosines' });
      synonymCheck.mockResolvedValueOnce(true);
      const yes = await reg.add({ name: `other candidate at ${c}`, embedding: at(c, 2) });
      expect(yes).toMatchObject({ id: a.id, outcome: 'synonym' });
      expect(yes.calls).toBeGreaterThanOrEqual(1);
    }
  });

  it('just below 0.70 is distinct, without a synonym call; thresholds are configurable', async () => {
    const { reg, synonymCheck } = make();
    await reg.add({ name: 'law of cosines', embedding: E0 });
    const r = await reg.add({ name: 'prime factorization', embedding: at(0.7 - 1e-4) });
    expect(r).toMatchObject({ outcome: 'new', calls: 0, similarity: null });
    expect(synonymCheck).not.toHaveBeenCalled();
    const strict = make({ sameThreshold: 0.95, synonymThreshold: 0.5 });
    await strict.reg.add({ name: 'law of cosines', embedding: E0 });
    expect((await strict.reg.add({ name: 'x', embedding: at(0.92) })).outcome).toBe('new');
    expect(strict.synonymCheck).toHaveBeenCalledTimes(1);
  });
});

describe('merging', () => {
  it('an exact normalized-name match merges with no embedding and no model call', async () => {
    const embed = vi.fn(async (names: string[]) => names.map(() => E0));
    const synonymCheck = vi.fn(async () => true);
    const reg = createKcRegistry({ embed, synonymCheck });
    const a = await reg.add({ name: 'Law of Cosines' });
    expect(embed).toHaveBeenCalledTimes(1);
    const b = await reg.add({ name: '  law of  cosine. ' });
    expect(b).toEqual({ id: a.id, outcome: 'exact', similarity: 1, calls: 0, representative: 'Law of Cosines' });
    expect(embed).toHaveBeenCalledTimes(1);
    expect(synonymCheck).not.toHaveBeenCalled();
    expect(reg.get(a.id)?.names).toEqual(['Law of Cosines', '  law of  cosine. ']);
  });

  it('asks band candidates in descending similarity and stops at the first yes; may rename the cluster', async () => {
    const asked: string[] = [];
    const reg = createKcRegistry({
      search: 'exact',
      synonymCheck: async (_c, existing) => {
        asked.push(existing.name);
        return existing.name === 'Y' ? { same: true, representative: 'Better Y' } : false;
      },
    });
    const x = await reg.add({ name: 'X', embedding: at(0.85, 1) });
    const y = await reg.add({ name: 'Y', embedding: at(0.8, 2) }); // cos(X, Y) = 0.68: distinct, no call
    await reg.add({ name: 'Z', embedding: at(0.75, 3) });
    expect(asked).toEqual([]);
    const r = await reg.add({ name: 'Q', embedding: E0 });
    expect(asked).toEqual(['X', 'Y']);
    expect(r).toMatchObject({ id: y.id, outcome: 'synonym', calls: 2, representative: 'Better Y' });
    expect(reg.get(y.id)).toMatchObject({ representative: 'Better Y', names: ['Y', 'Q'] });
    expect(reg.get(x.id)?.names).toEqual(['X']);

    const capped = createKcRegistry({ search: 'exact', maxSynonymChecks: 1, synonymCheck: async () => false });
    for (const [name, v] of [['X', at(0.85, 1)], ['Y', at(0.8, 2)]] as const) await capped.add({ name, embedding: v });
    expect(await capped.add({ name: 'Q', embedding: E0 })).toMatchObject({ outcome: 'new', calls: 1 });
  });

  it('without a synonym check the band counts as distinct (embedding-only mode)', async () => {
    const reg = createKcRegistry();
    await reg.add({ name: 'A', embedding: E0 });
    expect(await reg.add({ name: 'B', embedding: at(0.8) })).toMatchObject({ outcome: 'new', calls: 0 });
  });
});

describe('ids, batches, state', () => {
  const randomVectors = (n: number, seed: number, dim = 16) => {
    const rng = createRng(seed);
    return Array.from({ length: n }, () => Array.from({ length: dim }, () => rng.next() * 2 - 1));
  };

  it('ids derive from the founding name and never change as later KCs arrive', async () => {
    const reg = createKcRegistry({ synonymCheck: async () => true });
    const vs = randomVectors(300, 1);
    const first = await reg.add({ name: 'Chinese Remainder Theorem', embedding: vs[0] });
    expect(first.id).toBe(`kc-${shortHash(normalizeKcName('Chinese Remainder Theorem'), 12)}`);
    const early: [string, string][] = [];
    for (let i = 1; i < 100; i++) early.push([`kc ${i}`, (await reg.add({ name: `kc ${i}`, embedding: vs[i] })).id]);
    for (let i = 100; i < 300; i++) await reg.add({ name: `kc ${i}`, embedding: vs[i] });
    await reg.add({ name: 'CRT', embedding: vs[0] }); // merges (cosine 1); representative may change, id may not
    for (const [name, id] of early) expect(reg.idOf(name)).toBe(id);
    expect(reg.idOf('chinese remainder theorems')).toBe(first.id);
  });

  it('resolves id hash collisions deterministically', async () => {
    const build = async () => {
      const reg = createKcRegistry({ idHashLength: 1, search: 'exact' });
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        const v = new Array(40).fill(0);
        v[i] = 1;
        ids.push((await reg.add({ name: `concept ${i}`, embedding: v })).id);
      }
      return ids;
    };
    const ids = await build();
    expect(new Set(ids).size).toBe(40);
    expect(await build()).toEqual(ids);
  });

  it('addMany embeds once per batch, treats repeats as exact, and equals sequential adds', async () => {
    const table = new Map(randomVectors(6, 2).map((v, i) => [`name ${i}`, v]));
    const embed = vi.fn(async (names: string[]) => names.map((n) => table.get(n)!));
    const names = ['name 0', 'name 1', 'Name 0', 'name 2', 'name 3', 'name 1.'];
    const batch = createKcRegistry({ embed });
    const results = await batch.addMany(names.map((name) => ({ name })));
    expect(embed).toHaveBeenCalledTimes(1);
    expect(embed.mock.calls[0][0]).toEqual(['name 0', 'name 1', 'name 2', 'name 3']);
    expect(results.map((r) => r.outcome)).toEqual(['new', 'new', 'exact', 'new', 'new', 'exact']);
    const seq = createKcRegistry({ embed: async (n) => n.map((x) => table.get(x)!) });
    const seqResults = [];
    for (const name of names) seqResults.push(await seq.add({ name }));
    expect(seqResults).toEqual(results);
    // Concurrent adds are serialized in call order.
    const conc = createKcRegistry({ embed: async (n) => n.map((x) => table.get(x)!) });
    expect(await Promise.all(names.map((name) => conc.add({ name })))).toEqual(results);
  });

  it('exports and restores deterministically; a restored registry continues identically', async () => {
    const vs = randomVectors(200, 3);
    const opts: KcRegistryOptions = { synonymCheck: async (c, e) => (c.name.length + e.name.length) % 2 === 0 };
    const a = new KcRegistry(opts);
    for (let i = 0; i < 150; i++) await a.add({ name: `concept ${i % 120}`, embedding: vs[i] });
    const state = a.exportState();
    expect(a.ids()).toEqual(state.clusters.map((c) => c.id));
    const b = KcRegistry.restore(JSON.parse(JSON.stringify(state)), opts);
    expect(canonicalJson(b.exportState())).toBe(canonicalJson(state));
    for (let i = 150; i < 200; i++) {
      const input = { name: `concept ${i}`, embedding: vs[i] };
      expect(await b.add(input)).toEqual(await a.add(input));
    }
    expect(canonicalJson(b.exportState())).toBe(canonicalJson(a.exportState()));
    expect(() => KcRegistry.restore({ ...state, vectors: '' }, opts)).toThrow(/vectors hold 0 bytes/);
  });

  it('rejects bad input with clear messages', async () => {
    const reg = createKcRegistry();
    await expect(reg.add({ name: 'x' })).rejects.toThrow(/no embed function configured/);
    await reg.add({ name: 'a', embedding: [1, 0, 0] });
    await expect(reg.add({ name: 'b', embedding: [1, 0] })).rejects.toThrow(/expected dimension 3, got 2/);
    await expect(reg.add({ name: 'c', embedding: [0, 0, 0] })).rejects.toThrow(/zero vector/);
    await expect(reg.add({ name: ' ' })).rejects.toThrow(/non-empty string/);
    expect(() => createKcRegistry({ sameThreshold: 0.6, synonymThreshold: 0.7 })).toThrow(/synonymThreshold <= sameThreshold/);
    const bad = createKcRegistry({ synonymCheck: async () => 'yes' as never });
    await bad.add({ name: 'a', embedding: E0 });
    await expect(bad.add({ name: 'b', embedding: at(0.8) })).rejects.toThrow(/expected a boolean or \{ same: boolean \}/);
  });
});

describe('SimHash search recall', () => {
  it('finds what exact search finds for neighbours at cosine >= 0.70 (seeded, dim 64)', async () => {
    const rng = createRng(11);
    const dim = 64;
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    const unit = () => {
      const v = Array.from({ length: dim }, gauss);
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    };
    const reg = createKcRegistry({ search: 'simhash', sameThreshold: 1 });
    const base: number[][] = [];
    for (let i = 0; i < 2000; i++) {
      const v = unit();
      base.push(v);
      await reg.add({ name: `k${i}`, embedding: v });
    }
    let wanted = 0;
    let found = 0;
    for (let q = 0; q < 200; q++) {
      const b = base[rng.int(base.length)];
      const r = unit();
      const c = 0.7 + 0.25 * rng.next();
      const dot = r.reduce((s, x, i) => s + x * b[i], 0);
      const perp = r.map((x, i) => x - dot * b[i]);
      const pn = Math.hypot(...perp);
      const query = b.map((x, i) => c * x + (Math.sqrt(1 - c * c) * perp[i]) / pn);
      const exact = reg.nearest(query, 5, 'exact');
      const approx = new Set(reg.nearest(query, 5, 'simhash').map((n) => n.id));
      wanted += exact.length;
      found += exact.filter((n) => approx.has(n.id)).length;
    }
    expect(wanted).toBeGreaterThanOrEqual(200);
    expect(found / wanted).toBeGreaterThanOrEqual(0.98);
  });
});
