/** What each relation type provides to the sampler. */
import type { CsrSnapshot } from '../../graph/csr.ts';
import type { Rng } from '../../util/rng.ts';
import type { Candidate, Relation } from '../types.ts';

export interface RelationSource {
  readonly relation: Relation;
  /**
   * Adopts a new snapshot. `newEdges` are the edges created since the previous snapshot
   * ([u0, v0, u1, v1, ...]); returns the "fresh" work items (pairs of node indices, flat) whose
   * candidates the new edges opened; freshFor(a, b) enumerates one item.
   */
  prepare(snap: CsrSnapshot, newEdges: readonly number[]): number[];
  /** One random attempt; null when the attempt found nothing (the sampler counts a miss). */
  draw(rng: Rng): Candidate | null;
  /** Every candidate of the current snapshot, lazily, in a deterministic order. */
  sweep(): Iterator<Candidate>;
  /** Candidates of one fresh item, lazily, against the current snapshot. */
  freshFor(a: number, b: number): Iterator<Candidate>;
}

/** First index i with cum[i] > x (cum ascending, x < cum[last]). */
export function searchCumulative(cum: Float64Array, length: number, x: number): number {
  let lo = 0;
  let hi = length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Node owning position p of the neighbour array (largest u with offsets[u] <= p). */
export function ownerOfPosition(s: CsrSnapshot, p: number): number {
  let lo = 0;
  let hi = s.n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (s.offsets[mid] <= p) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Writes the common neighbours of u and v (ascending, only those > after) into out; returns how many.
 * Merges the two sorted slices: O(deg u + deg v).
 */
export function commonNeighbors(s: CsrSnapshot, u: number, v: number, out: Int32Array, after = -1): number {
  const nb = s.neighbors;
  let i = s.offsets[u];
  const iEnd = s.offsets[u + 1];
  let j = s.offsets[v];
  const jEnd = s.offsets[v + 1];
  let k = 0;
  while (i < iEnd && j < jEnd) {
    const a = nb[i];
    const b = nb[j];
    if (a === b) {
      if (a > after) out[k++] = a;
      i++;
      j++;
    } else if (a < b) i++;
    else j++;
  }
  return k;
}

export function minPairWeight(s: CsrSnapshot, members: readonly number[], weightOf: (u: number, v: number) => number): number {
  let w = Infinity;
  for (let i = 0; i < members.length; i++) {
    for (let j = i + 1; j < members.length; j++) w = Math.min(w, weightOf(members[i], members[j]));
  }
  return w;
}

export function emptyIterator(): Iterator<Candidate> {
  return [][Symbol.iterator]();
}
