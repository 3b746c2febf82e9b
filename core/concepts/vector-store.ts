/**
 * Unit vectors in one growing Float32Array (no per-vector objects), with two search modes behind one
 * interface:
 *  - 'exact': a dot product with every row (4-way unrolled), keeping the top k at or above a cosine.
 *  - 'simhash': random-hyperplane signatures (SimHash, Charikar 2002) in one Uint32Array. A query scans
 *    the signatures (32 bytes per row for 256 bits instead of 4*dim bytes), keeps rows whose Hamming
 *    distance is small enough to be consistent with cosine >= minCosine, and re-ranks those exactly.
 *    For two vectors at angle t, each bit differs with probability t/pi, so the Hamming distance is
 *    Binomial(bits, t/pi); the cut-off is its mean at the lowest cosine of interest plus z standard
 *    deviations. With 256 bits and z = 3 a pair at cosine exactly 0.70 survives with probability
 *    ~99.9% (higher for closer pairs), while an unrelated pair (cosine ~0) almost never does.
 *    Similarities returned are always exact; only recall is approximate.
 */
import { createRng } from '../util/rng.ts';

export type SearchMode = 'exact' | 'simhash';

export interface VectorStoreOptions {
  dim: number;
  mode: SearchMode;
  /** Lowest cosine a search must find (the registry's synonym threshold). */
  minCosine: number;
  simhashBits: number;
  simhashZ: number;
  seed: number;
}

export interface Neighbor {
  row: number;
  similarity: number;
}

/** Float tolerance for comparing a float32 dot product with a threshold. */
export const COSINE_EPSILON = 1e-6;

export function toUnitVector(values: ArrayLike<number>, dim: number, what = 'embedding'): Float32Array {
  if (values == null || typeof values.length !== 'number') throw new TypeError(`${what}: expected an array of numbers`);
  if (values.length !== dim) throw new RangeError(`${what}: expected dimension ${dim}, got ${values.length}`);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    const x = values[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new RangeError(`${what}: component ${i} is not a finite number`);
    norm += x * x;
  }
  if (norm === 0) throw new RangeError(`${what}: zero vector has no direction`);
  const inv = 1 / Math.sqrt(norm);
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) out[i] = values[i] * inv;
  return out;
}

function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

function gaussianPlanes(count: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = 1 - rng.next(); // (0, 1]
    const v = rng.next();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Max Hamming distance kept for a cosine threshold: binomial mean + z standard deviations. */
export function hammingCutoff(bits: number, minCosine: number, z: number): number {
  const p = Math.acos(Math.max(-1, Math.min(1, minCosine))) / Math.PI;
  return Math.min(bits, Math.ceil(bits * p + z * Math.sqrt(bits * p * (1 - p))));
}

export class VectorStore {
  readonly dim: number;
  readonly mode: SearchMode;
  private readonly words: number;
  private readonly planes: Float32Array | null;
  private readonly cutoff: number;
  private readonly minCosine: number;
  private vectors: Float32Array;
  private signatures: Uint32Array;
  private capacity = 0;
  size = 0;

  constructor(opts: VectorStoreOptions) {
    if (!Number.isInteger(opts.dim) || opts.dim <= 0) throw new RangeError(`dim must be a positive integer, got ${opts.dim}`);
    if (!Number.isInteger(opts.simhashBits) || opts.simhashBits <= 0 || opts.simhashBits % 32 !== 0) {
      throw new RangeError(`simhashBits must be a positive multiple of 32, got ${opts.simhashBits}`);
    }
    this.dim = opts.dim;
    this.mode = opts.mode;
    this.minCosine = opts.minCosine;
    this.words = opts.simhashBits / 32;
    // An exact store keeps no signatures (saves bits*dim multiply-adds per vector); a simhash store can
    // still be searched exactly, which is how recall is measured.
    this.planes = opts.mode === 'simhash' ? gaussianPlanes(opts.simhashBits * opts.dim, opts.seed) : null;
    this.cutoff = hammingCutoff(opts.simhashBits, opts.minCosine - COSINE_EPSILON, opts.simhashZ);
    this.vectors = new Float32Array(0);
    this.signatures = new Uint32Array(0);
  }

  /** Appends a unit vector (see toUnitVector); returns its row. */
  add(unit: Float32Array): number {
    if (unit.length !== this.dim) throw new RangeError(`expected dimension ${this.dim}, got ${unit.length}`);
    if (this.size === this.capacity) this.grow();
    const row = this.size++;
    this.vectors.set(unit, row * this.dim);
    if (this.planes) this.signatures.set(this.signature(unit), row * this.words);
    return row;
  }

  vector(row: number): Float32Array {
    return this.vectors.subarray(row * this.dim, (row + 1) * this.dim);
  }

  /** The rows whose cosine with `query` is >= minCosine (within COSINE_EPSILON), best first, at most k. */
  search(query: Float32Array, k: number, mode: SearchMode = this.mode): Neighbor[] {
    if (mode === 'exact') return this.searchExact(query, k);
    if (!this.planes) throw new Error("this store was built in 'exact' mode and keeps no SimHash signatures");
    return this.searchSimhash(query, k);
  }

  private searchExact(q: Float32Array, k: number): Neighbor[] {
    const top = new TopK(k);
    const floor = this.minCosine - COSINE_EPSILON;
    for (let row = 0; row < this.size; row++) {
      const sim = this.dot(q, row);
      if (sim >= floor) top.push(row, sim);
    }
    return top.sorted();
  }

  private searchSimhash(q: Float32Array, k: number): Neighbor[] {
    const sig = this.signature(q);
    const words = this.words;
    const cutoff = this.cutoff;
    const sigs = this.signatures;
    const top = new TopK(k);
    const floor = this.minCosine - COSINE_EPSILON;
    for (let row = 0, base = 0; row < this.size; row++, base += words) {
      let distance = 0;
      let w = 0;
      for (; w < words; w++) {
        distance += popcount32((sigs[base + w] ^ sig[w]) >>> 0);
        if (distance > cutoff) break;
      }
      if (w < words) continue;
      const sim = this.dot(q, row);
      if (sim >= floor) top.push(row, sim);
    }
    return top.sorted();
  }

  private dot(q: Float32Array, row: number): number {
    const v = this.vectors;
    const dim = this.dim;
    const base = row * dim;
    let a = 0, b = 0, c = 0, d = 0;
    let i = 0;
    for (; i + 3 < dim; i += 4) {
      a += q[i] * v[base + i];
      b += q[i + 1] * v[base + i + 1];
      c += q[i + 2] * v[base + i + 2];
      d += q[i + 3] * v[base + i + 3];
    }
    for (; i < dim; i++) a += q[i] * v[base + i];
    return a + b + c + d;
  }

  private signature(unit: Float32Array): Uint32Array {
    const planes = this.planes!;
    const dim = this.dim;
    const out = new Uint32Array(this.words);
    for (let bit = 0; bit < this.words * 32; bit++) {
      let s = 0;
      const base = bit * dim;
      for (let i = 0; i < dim; i++) s += planes[base + i] * unit[i];
      if (s >= 0) out[bit >>> 5] |= 1 << (bit & 31);
    }
    return out;
  }

  private grow(): void {
    const next = Math.max(1024, this.capacity * 2);
    const vectors = new Float32Array(next * this.dim);
    vectors.set(this.vectors.subarray(0, this.size * this.dim));
    const signatures = new Uint32Array(this.planes ? next * this.words : 0);
    if (this.planes) signatures.set(this.signatures.subarray(0, this.size * this.words));
    this.vectors = vectors;
    this.signatures = signatures;
    this.capacity = next;
  }
}

/** Keeps the k best (row, similarity) pairs; ties go to the lower row, so results are deterministic. */
class TopK {
  private readonly rows: number[] = [];
  private readonly sims: number[] = [];
  constructor(private readonly k: number) {}

  push(row: number, sim: number): void {
    const n = this.rows.length;
    if (n === this.k && sim <= this.sims[n - 1]) return;
    let i = n;
    while (i > 0 && this.sims[i - 1] < sim) i--;
    this.rows.splice(i, 0, row);
    this.sims.splice(i, 0, sim);
    if (this.rows.length > this.k) {
      this.rows.pop();
      this.sims.pop();
    }
  }

  sorted(): Neighbor[] {
    return this.rows.map((row, i) => ({ row, similarity: this.sims[i] }));
  }
}
