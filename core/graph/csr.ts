/**
 * Compressed sparse row (CSR) snapshot of the KC graph: the typed-array mirror that sampling reads.
 * graphology stays the graph of record; this snapshot is rebuilt lazily (O(V + E)) after mutations,
 * because walking graphology's object adjacency per candidate is what makes a naive sampler slow.
 *
 * Node indices are the graph's stable insertion indices (append-only), so an index refers to the
 * same KC in every snapshot of one KcGraph instance.
 */
export interface CsrSnapshot {
  /** Graph version this snapshot mirrors. */
  readonly version: number;
  /** Number of nodes. */
  readonly n: number;
  /** Number of undirected edges. */
  readonly edgeCount: number;
  /** offsets[u]..offsets[u+1] is the slice of `neighbors`/`weights` holding u's neighbours. */
  readonly offsets: Int32Array;
  /** Neighbour indices, sorted ascending inside each node's slice (binary search for adjacency). */
  readonly neighbors: Int32Array;
  /** Co-occurrence count of the edge at the same position. */
  readonly weights: Float64Array;
  /** Seed frequency of each node. */
  readonly frequency: Int32Array;
  /** KC id of each node index. */
  readonly ids: readonly string[];
  /**
   * Adjacency bitsets of the highest-degree nodes, so that "is x a neighbour of this hub" is one bit
   * test instead of a search through thousands of neighbours: rowOf[u] is u's row or -1; row r is
   * rowBits[r * rowWords .. (r + 1) * rowWords), bit v set when v is a neighbour. See ROWS.
   */
  readonly rowOf: Int32Array;
  readonly rowBits: Uint32Array;
  readonly rowWords: number;
}

/**
 * Which nodes get an adjacency bitset: degree >= max(minDegree, n / perNodes), at most maxRows of
 * them (highest degree first). A row costs n/8 bytes, at most 32x its neighbour list; all rows at
 * most maxRows * n / 8 bytes (3.2 MB at 100K KCs).
 */
export const ROWS = { minDegree: 64, perNodes: 1024, maxRows: 256 };

export function degreeOf(s: CsrSnapshot, u: number): number {
  return s.offsets[u + 1] - s.offsets[u];
}

/** Position of v inside u's neighbour slice, or -1 when u and v are not adjacent. */
export function edgePosition(s: CsrSnapshot, u: number, v: number): number {
  let lo = s.offsets[u];
  let hi = s.offsets[u + 1] - 1;
  const nb = s.neighbors;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const x = nb[mid];
    if (x === v) return mid;
    if (x < v) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Adjacency test: a bit of either node's adjacency row, else a search of the smaller neighbour list. */
export function isAdjacent(s: CsrSnapshot, u: number, v: number): boolean {
  const ru = s.rowOf[u];
  if (ru >= 0) return (s.rowBits[ru * s.rowWords + (v >>> 5)] & (1 << (v & 31))) !== 0;
  const rv = s.rowOf[v];
  if (rv >= 0) return (s.rowBits[rv * s.rowWords + (u >>> 5)] & (1 << (u & 31))) !== 0;
  return degreeOf(s, u) <= degreeOf(s, v) ? edgePosition(s, u, v) >= 0 : edgePosition(s, v, u) >= 0;
}

/** Whether v is a neighbour of u, given u's adjacency row r (rowOf[u] >= 0). */
export function rowHas(s: CsrSnapshot, r: number, v: number): boolean {
  return (s.rowBits[r * s.rowWords + (v >>> 5)] & (1 << (v & 31))) !== 0;
}

/** Edge weight, 0 when not adjacent. */
export function edgeWeight(s: CsrSnapshot, u: number, v: number): number {
  const p = degreeOf(s, u) <= degreeOf(s, v) ? edgePosition(s, u, v) : edgePosition(s, v, u);
  return p >= 0 ? s.weights[p] : 0;
}

/** Builds a snapshot from per-node adjacency maps (neighbour index -> weight). */
export function buildCsr(
  version: number,
  adjacency: readonly Map<number, number>[],
  frequency: readonly number[],
  ids: readonly string[],
): CsrSnapshot {
  const n = adjacency.length;
  const offsets = new Int32Array(n + 1);
  for (let u = 0; u < n; u++) offsets[u + 1] = offsets[u] + adjacency[u].size;
  const total = offsets[n];
  const neighbors = new Int32Array(total);
  const weights = new Float64Array(total);
  for (let u = 0; u < n; u++) {
    const start = offsets[u];
    const slice = neighbors.subarray(start, offsets[u + 1]);
    let i = 0;
    for (const v of adjacency[u].keys()) slice[i++] = v;
    slice.sort();
    for (let j = 0; j < slice.length; j++) weights[start + j] = adjacency[u].get(slice[j]) as number;
  }
  // Adjacency rows for the highest-degree nodes.
  const minDegree = Math.max(ROWS.minDegree, n / ROWS.perNodes);
  const big: number[] = [];
  for (let u = 0; u < n; u++) if (offsets[u + 1] - offsets[u] >= minDegree) big.push(u);
  big.sort((a, b) => offsets[b + 1] - offsets[b] - (offsets[a + 1] - offsets[a]) || a - b);
  big.length = Math.min(big.length, ROWS.maxRows);
  const rowWords = (n + 31) >>> 5;
  const rowOf = new Int32Array(n).fill(-1);
  const rowBits = new Uint32Array(big.length * rowWords);
  big.forEach((u, r) => {
    rowOf[u] = r;
    for (let p = offsets[u]; p < offsets[u + 1]; p++) {
      const v = neighbors[p];
      rowBits[r * rowWords + (v >>> 5)] |= 1 << (v & 31);
    }
  });
  return {
    version,
    n,
    edgeCount: total / 2,
    offsets,
    neighbors,
    weights,
    frequency: Int32Array.from(frequency),
    ids,
    rowOf,
    rowBits,
    rowWords,
  };
}
