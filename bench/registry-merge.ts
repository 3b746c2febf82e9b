/**
 * KC-registry merge throughput at scale, on synthetic clustered unit vectors (seeded):
 * 30% near-duplicates of an earlier KC (cosine 0.92-0.99), 10% in the synonym band (0.72-0.88),
 * 60% random directions (nearly orthogonal to everything in high dimension).
 * The synonym check is a deterministic stub (yes for about half of the pairs, by hash).
 *
 * Figures: build_s (adding all `kcs` through the default SimHash search), merges_per_s (further adds at
 * full size, SimHash), exact_merges_per_s (the same adds on the same registry restored with exact search),
 * recall (share of the exact search's neighbours with cosine >= 0.70 that SimHash also returns).
 *
 * Alone: `npx tsx bench/registry-merge.ts [--kcs 100000] [--dim 384] [--seed 7]` prints JSON.
 */
import { fileURLToPath } from 'node:url';
import { KcRegistry, type KcAddInput } from '../core/concepts/index.ts';
import { createRng, type Rng } from '../core/util/rng.ts';
import { shortHash } from '../core/util/hash.ts';

interface Opts {
  kcs: number;
  dim: number;
  seed: number;
  /** Adds timed at full size. Default 500. */
  queries?: number;
}

function gaussian(rng: Rng): number {
  const u = 1 - rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

function randomUnit(rng: Rng, dim: number): Float32Array {
  const v = new Float32Array(dim);
  let n = 0;
  for (let i = 0; i < dim; i++) n += (v[i] = gaussian(rng)) ** 2;
  const inv = 1 / Math.sqrt(n);
  for (let i = 0; i < dim; i++) v[i] *= inv;
  return v;
}

/** A unit vector at cosine `c` with `base` (a unit vector). */
function atCosine(rng: Rng, base: Float32Array, c: number): Float32Array {
  const r = randomUnit(rng, base.length);
  let d = 0;
  for (let i = 0; i < base.length; i++) d += r[i] * base[i];
  let n = 0;
  for (let i = 0; i < base.length; i++) n += (r[i] -= d * base[i]) ** 2;
  const s = Math.sqrt(1 - c * c) / Math.sqrt(n);
  const out = new Float32Array(base.length);
  for (let i = 0; i < base.length; i++) out[i] = c * base[i] + s * r[i];
  return out;
}

class SyntheticKcs {
  private readonly rng: Rng;
  private readonly made: Float32Array[] = [];
  constructor(seed: number, private readonly dim: number) {
    this.rng = createRng(seed);
  }
  next(): KcAddInput {
    const i = this.made.length;
    const r = this.rng.next();
    let v: Float32Array;
    if (i > 0 && r < 0.3) v = atCosine(this.rng, this.made[this.rng.int(i)], 0.92 + 0.07 * this.rng.next());
    else if (i > 0 && r < 0.4) v = atCosine(this.rng, this.made[this.rng.int(i)], 0.72 + 0.16 * this.rng.next());
    else v = randomUnit(this.rng, this.dim);
    this.made.push(v);
    return { name: `synthetic concept ${i}`, embedding: v };
  }
}

const synonymStub = async (a: { name: string }, b: { id: string }) => parseInt(shortHash(`${a.name}|${b.id}`, 2), 16) % 2 === 0;

async function timeAdds(reg: KcRegistry, inputs: KcAddInput[]): Promise<number> {
  const t0 = performance.now();
  for (const input of inputs) await reg.add(input);
  return (performance.now() - t0) / 1000;
}

export async function measureRegistryMerge(opts: Opts): Promise<Record<string, number>> {
  const { kcs, dim, seed } = opts;
  const queries = opts.queries ?? 500;
  const gen = new SyntheticKcs(seed, dim);
  const reg = new KcRegistry({ synonymCheck: synonymStub, search: 'simhash', seed });
  const t0 = performance.now();
  for (let i = 0; i < kcs; i++) await reg.add(gen.next());
  const buildS = (performance.now() - t0) / 1000;
  const mem = process.memoryUsage();

  const extra = Array.from({ length: queries }, () => gen.next());
  // Recall first, on the registry as built (before the timed adds change it).
  let found = 0;
  let wanted = 0;
  for (const q of extra) {
    const exact = reg.nearest(q.embedding!, 5, 'exact');
    const approx = new Set(reg.nearest(q.embedding!, 5, 'simhash').map((n) => n.id));
    wanted += exact.length;
    found += exact.filter((n) => approx.has(n.id)).length;
  }
  const exactReg = KcRegistry.restore(reg.exportState(), { synonymCheck: synonymStub, search: 'exact', seed });
  const simhashS = await timeAdds(reg, extra);
  const exactS = await timeAdds(exactReg, extra);
  const stats = reg.stats();
  return {
    kcs,
    dim,
    clusters: stats.clusters,
    build_s: round(buildS),
    build_merges_per_s: round(kcs / buildS),
    merges_per_s: round(queries / simhashS),
    exact_merges_per_s: round(queries / exactS),
    recall: wanted ? round(found / wanted, 4) : 1,
    recall_pairs: wanted,
    synonym_calls: stats.synonymCalls,
    heap_mb: round(mem.heapUsed / 2 ** 20),
    array_buffers_mb: round(mem.arrayBuffers / 2 ** 20),
    rss_mb: round(mem.rss / 2 ** 20),
  };
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await measureRegistryMerge({ kcs: arg('kcs', 100_000), dim: arg('dim', 384), seed: arg('seed', 7), queries: arg('queries', 500) });
  console.log(JSON.stringify(result));
}
