/**
 * 64-bit hashes of KC sets, computed from node indices without building key strings.
 *
 * Each KC id gets a 64-bit hash (two independent 32-bit FNV-1a/murmur lanes). A set's hash sorts its
 * members by their id hash and mixes them in that order, so it depends only on the KC ids, not on
 * node indices or on the order members were found in: the same key string always gets the same
 * hash, in every process and after a graph restore.
 *
 * Collisions: for n distinct keys the chance that any two share a hash is about n^2 / 2^65:
 * ~3e-8 at 1M keys, ~3e-6 at 10M. A collision would make the sampler skip one combination; it
 * can never make it repeat one.
 */
export function idHash(id: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(rotl(b ^ c, 15) , 0x5bd1e995) + 0x6b43a9b5;
  }
  return [fmix(a ^ id.length) >>> 0, fmix(b ^ Math.imul(id.length, 0x27d4eb2f)) >>> 0];
}

/** Scratch used by setHash to avoid allocating. */
const order = new Int32Array(8);

/**
 * Hash of a set of node indices (<= 8 members) into out[0] (high) and out[1] (low).
 * hi/lo hold each node's id hash.
 */
export function setHash(members: readonly number[], hi: Uint32Array, lo: Uint32Array, out: Uint32Array): void {
  const k = members.length;
  if (k === 2) {
    const a = members[0];
    const b = members[1];
    const swap = hi[a] > hi[b] || (hi[a] === hi[b] && lo[a] > lo[b]);
    order[0] = swap ? b : a;
    order[1] = swap ? a : b;
  } else {
    for (let i = 0; i < k; i++) {
      // insertion sort by (hi, lo) of the id hash
      const m = members[i];
      let j = i - 1;
      while (j >= 0 && (hi[order[j]] > hi[m] || (hi[order[j]] === hi[m] && lo[order[j]] > lo[m]))) {
        order[j + 1] = order[j];
        j--;
      }
      order[j + 1] = m;
    }
  }
  let h1 = 0x3c6ef372 ^ k;
  let h2 = 0xa54ff53a ^ Math.imul(k, 0x9e3779b1);
  for (let i = 0; i < k; i++) {
    const m = order[i];
    h1 = mixStep(mixStep(h1, hi[m]), lo[m]);
    h2 = mixStep(mixStep(h2, lo[m] ^ 0x5f356495), hi[m]);
  }
  out[0] = fmix(h1 ^ h2) >>> 0; // cross-feed so both lanes depend on everything
  out[1] = fmix(h2 + Math.imul(h1, 0x2545f491)) >>> 0;
}

function mixStep(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = rotl(k, 15);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = rotl(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}
