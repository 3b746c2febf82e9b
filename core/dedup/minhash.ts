/**
 * Text normalization for dedup, word shingles and seeded MinHash signatures.
 */
import { createRng } from '../util/rng.ts';
import { shortHash } from '../util/hash.ts';

/**
 * Lower case, NFKC, LaTeX spacing/sizing commands and `$` dropped, every other non-letter non-digit
 * (punctuation, braces, backslashes, operators) turned into a space, whitespace collapsed.
 * `\frac{1}{2}` becomes `frac 1 2`, so a copy that differs only in LaTeX spacing or punctuation is exact.
 */
export function normalizeForDedup(text: string): string {
  if (typeof text !== 'string') throw new TypeError(`dedup: expected text to be a string, got ${typeof text}`);
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/\\(?:left|right|displaystyle|quad|qquad)(?![a-z])|\\[,;:! ]/g, ' ')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** 128-bit content hash of the normalized text: the exact-duplicate key. */
export function exactKey(normalized: string): string {
  return shortHash(normalized, 32);
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's 32-bit finalizer: a bijective mix with good avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes of the word k-shingles of a normalized text; a text shorter than k is one shingle. */
export function shingleHashes(normalized: string, k: number): Uint32Array {
  const words = normalized === '' ? [] : normalized.split(' ');
  if (words.length === 0) return new Uint32Array(0);
  if (words.length <= k) return Uint32Array.of(fnv1a(words.join(' ')));
  const out = new Uint32Array(words.length - k + 1);
  for (let i = 0; i + k <= words.length; i++) out[i] = fnv1a(words.slice(i, i + k).join(' '));
  return out;
}

export class MinHasher {
  private readonly salts: Uint32Array;
  constructor(readonly numPerm: number, seed: number) {
    if (!Number.isInteger(numPerm) || numPerm < 1) throw new RangeError(`numPerm must be a positive integer, got ${numPerm}`);
    const rng = createRng(seed);
    this.salts = new Uint32Array(numPerm);
    for (let i = 0; i < numPerm; i++) this.salts[i] = Math.floor(rng.next() * 4294967296);
  }

  /** MinHash signature: for each seeded hash function, the minimum over the shingles. */
  signature(shingles: Uint32Array): Uint32Array {
    const sig = new Uint32Array(this.numPerm).fill(0xffffffff);
    for (let s = 0; s < shingles.length; s++) {
      const x = shingles[s];
      for (let i = 0; i < this.numPerm; i++) {
        const h = fmix32(x ^ this.salts[i]);
        if (h < sig[i]) sig[i] = h;
      }
    }
    return sig;
  }
}

/** Estimated Jaccard similarity: the share of equal signature positions. */
export function estimatedJaccard(a: Uint32Array, aOffset: number, b: Uint32Array, numPerm: number): number {
  let equal = 0;
  for (let i = 0; i < numPerm; i++) if (a[aOffset + i] === b[i]) equal++;
  return equal / numPerm;
}
