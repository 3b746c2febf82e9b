/**
 * A bounded MinHash-LSH store: at most `capacity` items, oldest evicted first (FIFO ring).
 *
 * Memory is typed arrays only, grown by doubling up to the capacity and never beyond:
 *   per item  4*numPerm (signature) + 12*bands (band key + chain links) bytes, plus id and exact key strings;
 *   per band  4*tableSize bytes of bucket heads (tableSize = power of two >= 2 * allocated items).
 * With numPerm 128, bands 32 that is ~0.9 KB of typed arrays per item plus ~100 B of strings.
 * Each band's buckets are doubly linked lists threaded through per-item arrays, so evicting an item
 * unlinks it in O(bands) and a bucket never holds a stale entry.
 */
import { estimatedJaccard } from './minhash.ts';

export interface StoredItem {
  id: string;
  key: string;
  signature: Uint32Array;
}

export interface Candidate {
  id: string;
  similarity: number;
}

export class LshStore {
  readonly numPerm: number;
  readonly bands: number;
  readonly rows: number;
  readonly capacity: number;
  private allocated = 0;
  private tableSize = 0;
  private live = 0;
  /** Next slot to evict once full (the ring's oldest). */
  private oldest = 0;
  evicted = 0;
  private ids: (string | null)[] = [];
  private keys: (string | null)[] = [];
  private sigs = new Uint32Array(0);
  private bandKeys = new Uint32Array(0);
  private next = new Int32Array(0);
  private prev = new Int32Array(0);
  private heads = new Int32Array(0);
  private readonly byKey = new Map<string, number>();

  constructor(opts: { numPerm: number; bands: number; capacity: number }) {
    if (!Number.isInteger(opts.bands) || opts.bands < 1 || opts.numPerm % opts.bands !== 0) {
      throw new RangeError(`bands must divide numPerm (${opts.numPerm}), got ${opts.bands}`);
    }
    if (!Number.isInteger(opts.capacity) || opts.capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${opts.capacity}`);
    this.numPerm = opts.numPerm;
    this.bands = opts.bands;
    this.rows = opts.numPerm / opts.bands;
    this.capacity = opts.capacity;
  }

  get size(): number {
    return this.live;
  }

  /** Bytes held by the typed arrays (strings not included). */
  get typedBytes(): number {
    return this.sigs.byteLength + this.bandKeys.byteLength + this.next.byteLength + this.prev.byteLength + this.heads.byteLength;
  }

  exactMatch(key: string): string | null {
    const slot = this.byKey.get(key);
    return slot === undefined ? null : this.ids[slot];
  }

  /** Best stored item with estimated Jaccard >= threshold among those sharing a band, or null. */
  nearMatch(sig: Uint32Array, threshold: number): Candidate | null {
    if (this.live === 0) return null;
    const seen = new Set<number>();
    let best: Candidate | null = null;
    let bestSlot = -1;
    for (let b = 0; b < this.bands; b++) {
      const bk = this.bandKey(sig, b);
      for (let node = this.heads[b * this.tableSize + (bk & (this.tableSize - 1))]; node !== -1; node = this.next[node]) {
        if (this.bandKeys[node] !== bk) continue;
        const slot = (node / this.bands) | 0;
        if (seen.has(slot)) continue;
        seen.add(slot);
        const sim = estimatedJaccard(this.sigs, slot * this.numPerm, sig, this.numPerm);
        // Ties go to the older slot index for determinism.
        if (sim >= threshold && (!best || sim > best.similarity || (sim === best.similarity && slot < bestSlot))) {
          best = { id: this.ids[slot]!, similarity: sim };
          bestSlot = slot;
        }
      }
    }
    return best;
  }

  add(id: string, key: string, sig: Uint32Array): void {
    let slot: number;
    if (this.live < this.capacity) {
      slot = this.live++;
      if (slot >= this.allocated) this.grow();
    } else {
      slot = this.oldest;
      this.evict(slot);
      this.oldest = (this.oldest + 1) % this.capacity;
    }
    this.place(slot, id, key, sig);
  }

  /** Items oldest first: the order that rebuilds the same ring. */
  *items(): IterableIterator<StoredItem> {
    const full = this.live === this.capacity;
    for (let i = 0; i < this.live; i++) {
      const slot = full ? (this.oldest + i) % this.capacity : i;
      yield { id: this.ids[slot]!, key: this.keys[slot]!, signature: this.sigs.slice(slot * this.numPerm, (slot + 1) * this.numPerm) };
    }
  }

  private place(slot: number, id: string, key: string, sig: Uint32Array): void {
    this.ids[slot] = id;
    this.keys[slot] = key;
    this.sigs.set(sig, slot * this.numPerm);
    if (!this.byKey.has(key)) this.byKey.set(key, slot);
    for (let b = 0; b < this.bands; b++) this.link(slot * this.bands + b, b, this.bandKey(sig, b));
  }

  private link(node: number, band: number, bk: number): void {
    this.bandKeys[node] = bk;
    const bucket = band * this.tableSize + (bk & (this.tableSize - 1));
    const head = this.heads[bucket];
    this.prev[node] = -1;
    this.next[node] = head;
    if (head !== -1) this.prev[head] = node;
    this.heads[bucket] = node;
  }

  private evict(slot: number): void {
    for (let b = 0; b < this.bands; b++) {
      const node = slot * this.bands + b;
      const p = this.prev[node];
      const n = this.next[node];
      if (p === -1) this.heads[b * this.tableSize + (this.bandKeys[node] & (this.tableSize - 1))] = n;
      else this.next[p] = n;
      if (n !== -1) this.prev[n] = p;
    }
    const key = this.keys[slot]!;
    if (this.byKey.get(key) === slot) this.byKey.delete(key);
    this.evicted++;
  }

  private bandKey(sig: Uint32Array, band: number): number {
    let h = 0x9e3779b9 ^ band;
    const start = band * this.rows;
    for (let i = start; i < start + this.rows; i++) {
      h = Math.imul(h ^ sig[i], 0x01000193);
      h ^= h >>> 15;
    }
    return h >>> 0;
  }

  /** Doubles the per-item arrays (up to capacity) and rebuilds the band tables. */
  private grow(): void {
    const allocated = Math.min(this.capacity, Math.max(256, this.allocated * 2));
    const sigs = new Uint32Array(allocated * this.numPerm);
    sigs.set(this.sigs);
    this.sigs = sigs;
    this.bandKeys = new Uint32Array(allocated * this.bands);
    this.next = new Int32Array(allocated * this.bands);
    this.prev = new Int32Array(allocated * this.bands);
    let tableSize = 1;
    while (tableSize < 2 * allocated) tableSize *= 2;
    this.tableSize = tableSize;
    this.heads = new Int32Array(this.bands * tableSize).fill(-1);
    this.allocated = allocated;
    // Growth happens only before the ring is full, so slots 0..live-2 are the stored items.
    for (let slot = 0; slot < this.live - 1; slot++) {
      const sig = this.sigs.subarray(slot * this.numPerm, (slot + 1) * this.numPerm);
      for (let b = 0; b < this.bands; b++) this.link(slot * this.bands + b, b, this.bandKey(sig, b));
    }
  }
}
