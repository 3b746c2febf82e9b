/** What each relation type provides to the sampler. */
import { rowHas, type CsrSnapshot } from '../../graph/csr.ts';
import type { Rng } from '../../util/rng.ts';
import type { Candidate, Relation } from '../types.ts';

/**
 * A source may return the same Candidate object (and arrays) from every call: the sampler reads a
 * candidate before it asks the source for the next one and never keeps it, so drawing allocates
 * nothing per attempt.
 */
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
 * Walks the shorter of the two sorted slices and looks each element up in the longer node's
 * adjacency row when it has one (one bit), else gallops (exponential search) through the longer
 * slice: O(d) or O(d log(D / d)) for degrees d <= D, so a hub's long list costs little.
 */
export function commonNeighbors(s: CsrSnapshot, u: number, v: number, out: Int32Array, after = -1): number {
  const nb = s.neighbors;
  const uShorter = s.offsets[u + 1] - s.offsets[u] <= s.offsets[v + 1] - s.offsets[v];
  const short = uShorter ? u : v;
  const long = uShorter ? v : u;
  let i = s.offsets[short];
  const iEnd = s.offsets[short + 1];
  let k = 0;
  const row = s.rowOf[long];
  if (row >= 0) {
    for (; i < iEnd; i++) {
      const a = nb[i];
      if (a > after && rowHas(s, row, a)) out[k++] = a;
    }
    return k;
  }
  let j = s.offsets[long];
  const jEnd = s.offsets[long + 1];
  for (; i < iEnd && j < jEnd; i++) {
    const a = nb[i];
    if (a <= after) continue;
    j = gallop(nb, j, jEnd, a);
    if (j < jEnd && nb[j] === a) out[k++] = a;
  }
  return k;
}

/**
 * Writes the members of list[from..to) (ascending) that are adjacent to w into out, ascending;
 * returns how many. One bit each when w has an adjacency row; else walks the shorter of that range
 * and w's neighbours and gallops through the other.
 */
export function adjacentAmong(s: CsrSnapshot, w: number, list: Int32Array, from: number, to: number, out: Int32Array): number {
  const nb = s.neighbors;
  const wStart = s.offsets[w];
  const wEnd = s.offsets[w + 1];
  let k = 0;
  const row = s.rowOf[w];
  if (row >= 0) {
    for (let i = from; i < to; i++) if (rowHas(s, row, list[i])) out[k++] = list[i];
  } else if (to - from <= wEnd - wStart) {
    let j = wStart;
    for (let i = from; i < to && j < wEnd; i++) {
      const x = list[i];
      j = gallop(nb, j, wEnd, x);
      if (j < wEnd && nb[j] === x) out[k++] = x;
    }
  } else {
    let i = from;
    for (let j = wStart; j < wEnd && i < to; j++) {
      const x = nb[j];
      i = gallop(list, i, to, x);
      if (i < to && list[i] === x) out[k++] = x;
    }
  }
  return k;
}

/** First position in [from, end) of the ascending array whose value is >= x (exponential search). */
export function gallop(a: Int32Array, from: number, end: number, x: number): number {
  if (from >= end || a[from] >= x) return from;
  let lo = from; // a[lo] < x
  let step = 1;
  let hi = from + 1;
  while (hi < end && a[hi] < x) {
    lo = hi;
    step *= 2;
    hi = from + step;
  }
  if (hi > end) hi = end;
  while (lo + 1 < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid;
    else hi = mid;
  }
  return hi;
}

export function emptyIterator(): Iterator<Candidate> {
  return [][Symbol.iterator]();
}
