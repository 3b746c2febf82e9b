/**
 * Output dedup: exact (hash of the normalized text) and near-duplicate (MinHash over word shingles +
 * LSH banding) against the seeds (`addReference`) and against everything accepted so far (`add`).
 *
 * Near-duplicate rule: estimated Jaccard of the shingle sets >= threshold (INCLUSIVE), found through LSH
 * bands (numPerm / bands rows each). The banding's 50% detection point is (1/bands)^(1/rows): 0.42 for
 * the defaults 128/32, well below the 0.8 threshold, so pairs above the threshold are almost never missed
 * by the banding; the signature comparison then applies the threshold itself.
 *
 * Bounded memory: references and accepted items live in two stores, each with its own capacity. Past a
 * store's capacity its OLDEST item is evicted (FIFO) and counted in stats().evicted; a later copy of an
 * evicted item is no longer caught. Seeds are usually far fewer than the reference capacity, so in
 * practice only accepted outputs age out. See lsh-store.ts for bytes per item.
 */
import { LshStore } from './lsh-store.ts';
import { MinHasher, exactKey, normalizeForDedup, shingleHashes } from './minhash.ts';

export interface DeduperOptions {
  /** Words per shingle. Default 3. */
  shingleSize?: number;
  /** MinHash functions. Default 128. */
  numPerm?: number;
  /** LSH bands; must divide numPerm. Default 32. */
  bands?: number;
  /** Estimated Jaccard at or above which a text is a near-duplicate. Default 0.8. */
  threshold?: number;
  /** Accepted items kept. Default 200,000. */
  capacity?: number;
  /** Reference (seed) items kept. Default 100,000. */
  referenceCapacity?: number;
  seed?: number;
}

export type DedupResult =
  | { duplicate: false }
  | { duplicate: true; kind: 'exact' | 'near'; matchId: string; similarity: number; against: 'reference' | 'accepted' };

export interface DeduperState {
  format: 'grip.dedup.v1';
  options: Required<DeduperOptions>;
  references: { evicted: number; items: { id: string; key: string; sig: string }[] };
  accepted: { evicted: number; items: { id: string; key: string; sig: string }[] };
}

function resolve(o: DeduperOptions): Required<DeduperOptions> {
  const r = {
    shingleSize: o.shingleSize ?? 3,
    numPerm: o.numPerm ?? 128,
    bands: o.bands ?? 32,
    threshold: o.threshold ?? 0.8,
    capacity: o.capacity ?? 200_000,
    referenceCapacity: o.referenceCapacity ?? 100_000,
    seed: o.seed ?? 1,
  };
  if (!Number.isInteger(r.shingleSize) || r.shingleSize < 1) throw new RangeError(`shingleSize must be a positive integer, got ${r.shingleSize}`);
  if (!(r.threshold > 0 && r.threshold <= 1)) throw new RangeError(`threshold must be in (0, 1], got ${r.threshold}`);
  return r;
}

export class Deduper {
  readonly options: Required<DeduperOptions>;
  private readonly hasher: MinHasher;
  private readonly references: LshStore;
  private readonly accepted: LshStore;

  constructor(options: DeduperOptions = {}) {
    this.options = resolve(options);
    const { numPerm, bands, capacity, referenceCapacity, seed } = this.options;
    this.hasher = new MinHasher(numPerm, seed);
    this.references = new LshStore({ numPerm, bands, capacity: referenceCapacity });
    this.accepted = new LshStore({ numPerm, bands, capacity });
  }

  /** A seed problem (or any text outputs must not copy). */
  addReference(id: string, text: string): void {
    const { key, sig } = this.fingerprint(text);
    this.references.add(checkId(id), key, sig);
  }

  /** An accepted output. */
  add(id: string, text: string): void {
    this.addFingerprint(id, this.fingerprint(text));
  }

  addFingerprint(id: string, { key, sig }: Fingerprint): void {
    this.accepted.add(checkId(id), key, sig);
  }

  check(text: string): DedupResult {
    return this.checkFingerprint(this.fingerprint(text));
  }

  checkFingerprint({ key, sig, empty }: Fingerprint): DedupResult {
    for (const [against, store] of [['reference', this.references], ['accepted', this.accepted]] as const) {
      const id = store.exactMatch(key);
      if (id !== null) return { duplicate: true, kind: 'exact', matchId: id, similarity: 1, against };
    }
    if (empty) return { duplicate: false };
    let best: DedupResult = { duplicate: false };
    for (const [against, store] of [['reference', this.references], ['accepted', this.accepted]] as const) {
      const m = store.nearMatch(sig, this.options.threshold);
      if (m && (!best.duplicate || m.similarity > best.similarity)) {
        best = { duplicate: true, kind: 'near', matchId: m.id, similarity: m.similarity, against };
      }
    }
    return best;
  }

  /** check, then add when it is not a duplicate. */
  checkAndAdd(id: string, text: string): DedupResult {
    const result = this.check(text);
    if (!result.duplicate) this.add(id, text);
    return result;
  }

  stats() {
    return {
      references: this.references.size,
      accepted: this.accepted.size,
      referenceCapacity: this.references.capacity,
      capacity: this.accepted.capacity,
      evictedReferences: this.references.evicted,
      evicted: this.accepted.evicted,
      typedBytes: this.references.typedBytes + this.accepted.typedBytes,
    };
  }

  exportState(): DeduperState {
    const dump = (s: LshStore) => ({
      evicted: s.evicted,
      items: [...s.items()].map((it) => ({ id: it.id, key: it.key, sig: Buffer.from(it.signature.buffer).toString('base64') })),
    });
    return { format: 'grip.dedup.v1', options: { ...this.options }, references: dump(this.references), accepted: dump(this.accepted) };
  }

  static importState(state: DeduperState): Deduper {
    if (!state || state.format !== 'grip.dedup.v1') throw new Error(`Deduper.importState: unknown state format ${state?.format}`);
    const d = new Deduper(state.options);
    const load = (store: LshStore, part: DeduperState['accepted'], what: string) => {
      part.items.forEach((it, i) => {
        const raw = Buffer.from(it.sig, 'base64');
        if (raw.byteLength !== 4 * d.options.numPerm) throw new Error(`Deduper.importState: ${what} item ${i} (${it.id}) has a signature of ${raw.byteLength} bytes, expected ${4 * d.options.numPerm}`);
        store.add(it.id, it.key, new Uint32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
      });
      store.evicted = part.evicted;
    };
    load(d.references, state.references, 'reference');
    load(d.accepted, state.accepted, 'accepted');
    return d;
  }

  /**
   * The stores as binary sections (ids and exact keys as JSON, signatures as raw uint32), oldest
   * first: importSections rebuilds the same rings. About 4 x numPerm bytes per item plus its strings.
   */
  exportSections(prefix: string): Record<string, Uint8Array> {
    const out: Record<string, Uint8Array> = {};
    for (const [name, store] of [['ref', this.references], ['acc', this.accepted]] as const) {
      const strings: string[] = [];
      const sigs = new Uint32Array(store.size * this.options.numPerm);
      let i = 0;
      for (const it of store.items()) {
        strings.push(it.id, it.key);
        sigs.set(it.signature, i * this.options.numPerm);
        i++;
      }
      out[`${prefix}.${name}.strings`] = Buffer.from(JSON.stringify({ evicted: store.evicted, strings }), 'utf8');
      out[`${prefix}.${name}.sigs`] = new Uint8Array(sigs.buffer, sigs.byteOffset, sigs.byteLength);
    }
    return out;
  }

  /** A deduper with these options and the stores exportSections wrote; throws when they do not fit. */
  static importSections(options: DeduperOptions, sections: Record<string, Uint8Array>, prefix: string): Deduper {
    const d = new Deduper(options);
    const numPerm = d.options.numPerm;
    for (const [name, store] of [['ref', d.references], ['acc', d.accepted]] as const) {
      const rawStrings = sections[`${prefix}.${name}.strings`];
      const rawSigs = sections[`${prefix}.${name}.sigs`];
      if (!rawStrings || !rawSigs) throw new Error(`dedup state: section ${prefix}.${name} missing`);
      const { evicted, strings } = JSON.parse(Buffer.from(rawStrings).toString('utf8')) as { evicted: number; strings: string[] };
      const count = strings.length / 2;
      if (!Number.isInteger(count) || rawSigs.byteLength !== count * numPerm * 4) throw new Error(`dedup state: ${prefix}.${name} holds ${count} items but ${rawSigs.byteLength} signature bytes (expected ${count * numPerm * 4})`);
      const sigs = new Uint32Array(rawSigs.buffer.slice(rawSigs.byteOffset, rawSigs.byteOffset + rawSigs.byteLength));
      for (let i = 0; i < count; i++) store.add(checkId(strings[2 * i]!), strings[2 * i + 1]!, sigs.subarray(i * numPerm, (i + 1) * numPerm));
      store.evicted = evicted;
    }
    return d;
  }

  /** The fingerprint check() and add() compute: compute once, then checkFingerprint / addFingerprint. */
  fingerprint(text: string): Fingerprint {
    const normalized = normalizeForDedup(text);
    const shingles = shingleHashes(normalized, this.options.shingleSize);
    return { key: exactKey(normalized), sig: this.hasher.signature(shingles), empty: shingles.length === 0 };
  }
}

function checkId(id: string): string {
  if (typeof id !== 'string' || id === '') throw new TypeError(`dedup: id must be a non-empty string, got ${JSON.stringify(id)}`);
  return id;
}

/** A text's dedup fingerprint: the exact key of its normalized form and its MinHash signature. */
export interface Fingerprint {
  key: string;
  sig: Uint32Array;
  empty: boolean;
}

export function createDeduper(options: DeduperOptions = {}): Deduper {
  return new Deduper(options);
}
