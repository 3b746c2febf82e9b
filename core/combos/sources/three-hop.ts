/**
 * 3-hop: a hub KC (top KCs by degree; count or fraction configurable) with a KC at shortest-path
 * distance exactly 3. Hubs are few, so each hub's layer-3 set is cached (recomputed when the graph
 * changes) and draws are O(log) lookups.
 *
 * Per hub only the layer-3 membership is kept, as a bitset with a rank index (n/8 + n/32 bytes per
 * hub, whatever the layer's size), and it is found without a full BFS: layer 1 is the hub's
 * neighbour list; layers 2 and 3 are each found top-down (scanning the previous layer's
 * neighbours) or bottom-up (each unreached node looks for one neighbour in the previous layer and
 * stops at the first), whichever touches fewer adjacency entries (direction-optimizing BFS).
 *
 * The witness path and weight of a (hub, target) pair are computed when it is drawn, from the CSR:
 * among the shortest paths hub - x - y - target the one whose weakest edge is strongest (weight =
 * that bottleneck). Ties go to the path a breadth-first search from the hub, visiting neighbours in
 * ascending index order and keeping the first parent unless a later one is strictly better, would
 * keep: y first in that BFS's layer-2 order, i.e. smallest (first x adjacent to y, y); then the
 * smallest x. The hub - x - y leg to a high-degree y (one with an adjacency row in the snapshot) is
 * cached per hub, so most witnesses need no scan once their hub has been drawn a few times.
 */
import { rowHas, type CsrSnapshot } from '../../graph/csr.ts';
import type { Rng } from '../../util/rng.ts';
import type { Candidate } from '../types.ts';
import { gallop, searchCumulative, type RelationSource } from './source.ts';

export interface HubOptions {
  /** Exactly this many hubs (top by degree). */
  hubCount?: number;
  /** Or this share of the non-isolated KCs (default 0.01, at least one hub). */
  hubFraction?: number;
}

/** Words (of 32 bits) per rank block. */
const BLOCK_WORDS = 4;

interface HubLayers {
  hub: number;
  /** Layer-3 membership, one bit per node index. */
  bits: Uint32Array;
  /** rank[b] = members in words [0, b * BLOCK_WORDS). */
  rank: Int32Array;
  /** Layer-3 size. */
  size: number;
  /**
   * Per adjacency row of the snapshot (its high-degree nodes y), filled when first needed: the
   * first common neighbour x of hub and y (UNKNOWN: not computed; -1: none), the best
   * min(w(hub, x), w(x, y)) and its smallest x. Most witnesses go through such a y.
   */
  viaFirst: Int32Array;
  viaArg: Int32Array;
  viaBest: Float64Array;
}

const UNKNOWN = -2;

export class ThreeHopSource implements RelationSource {
  readonly relation = '3-hop' as const;
  private snap!: CsrSnapshot;
  private layers: HubLayers[] = [];
  private byHub = new Map<number, HubLayers>();
  private cum = new Float64Array(0);
  private prepared = false;
  /** Reused for every candidate (see RelationSource). */
  private readonly out: Candidate = { members: [0, 0], path: [0, 0, 0, 0], weight: 0, hop: 3 };

  constructor(private readonly options: HubOptions) {}

  /** Current hubs (node indices), strongest first. */
  get hubs(): number[] {
    return this.layers.map((l) => l.hub);
  }

  prepare(snap: CsrSnapshot, _newEdges: readonly number[]): number[] {
    this.snap = snap;
    const previous = this.byHub;
    const first = !this.prepared;
    this.prepared = true;
    const scratch = new LayerScratch(snap.n);
    this.layers = selectHubs(snap, this.options).map((h) => layer3(snap, h, scratch));
    this.byHub = new Map(this.layers.map((l) => [l.hub, l]));
    this.cum = new Float64Array(this.layers.length);
    let total = 0;
    this.layers.forEach((l, i) => (this.cum[i] = total += l.size));
    // Fresh items: (hub, target) pairs that were not at distance 3 before (or whose hub is new).
    // The first preparation has no "before" (the sampler ignores fresh items then).
    const fresh: number[] = [];
    if (first) return fresh;
    for (const l of this.layers) {
      const old = previous.get(l.hub)?.bits;
      const bits = l.bits;
      for (let w = 0; w < bits.length; w++) {
        let word = (bits[w] & ~(old && w < old.length ? old[w] : 0)) >>> 0;
        while (word !== 0) {
          const b = 31 - Math.clz32(word & -word);
          fresh.push(l.hub, w * 32 + b);
          word = (word & (word - 1)) >>> 0;
        }
      }
    }
    return fresh;
  }

  draw(rng: Rng): Candidate | null {
    const k = this.layers.length;
    if (k === 0 || this.cum[k - 1] === 0) return null;
    const l = this.layers[searchCumulative(this.cum, k, rng.next() * this.cum[k - 1])];
    return witness(this.snap, l, select(l, rng.int(l.size)), this.out);
  }

  *sweep(): Iterator<Candidate> {
    for (const l of this.layers) {
      const bits = l.bits;
      for (let w = 0; w < bits.length; w++) {
        let word = bits[w];
        while (word !== 0) {
          const b = 31 - Math.clz32(word & -word);
          yield witness(this.snap, l, w * 32 + b, this.out);
          word = (word & (word - 1)) >>> 0;
        }
      }
    }
  }

  *freshFor(hub: number, target: number): Iterator<Candidate> {
    const l = this.byHub.get(hub);
    if (!l || target >= this.snap.n || (l.bits[target >>> 5] & (1 << (target & 31))) === 0) return;
    yield witness(this.snap, l, target, this.out);
  }
}

/** Top hubs by degree, ties broken by KC id so the choice does not depend on insertion order. */
export function selectHubs(s: CsrSnapshot, o: HubOptions): number[] {
  const candidates: number[] = [];
  for (let u = 0; u < s.n; u++) if (s.offsets[u + 1] > s.offsets[u]) candidates.push(u);
  const count = o.hubCount ?? Math.max(1, Math.ceil((o.hubFraction ?? 0.01) * candidates.length));
  const degree = (u: number): number => s.offsets[u + 1] - s.offsets[u];
  candidates.sort((a, b) => degree(b) - degree(a) || (s.ids[a] < s.ids[b] ? -1 : 1));
  return candidates.slice(0, count);
}

/** Per-preparation scratch: node distances (0-3, UNSEEN) and the frontier lists. */
class LayerScratch {
  readonly dist: Uint8Array;
  readonly layer2: Int32Array;
  constructor(n: number) {
    this.dist = new Uint8Array(n);
    this.layer2 = new Int32Array(n);
  }
}

const UNSEEN = 255;

/**
 * The hub's layer-3 set (nodes at distance exactly 3). Each layer is found top-down or bottom-up,
 * whichever is cheaper: top-down costs the previous layer's degree sum; bottom-up costs at most the
 * unreached nodes' degree sum, usually far less as it stops at the first neighbour found.
 */
function layer3(s: CsrSnapshot, hub: number, scratch: LayerScratch): HubLayers {
  const { offsets, neighbors: nb } = s;
  const n = s.n;
  const dist = scratch.dist;
  dist.fill(UNSEEN);
  dist[hub] = 0;
  let reachedDegrees = offsets[hub + 1] - offsets[hub];
  let frontierDegrees = 0;
  for (let p = offsets[hub]; p < offsets[hub + 1]; p++) {
    const x = nb[p];
    dist[x] = 1;
    frontierDegrees += offsets[x + 1] - offsets[x];
  }
  reachedDegrees += frontierDegrees;
  const totalDegrees = offsets[n];
  // Layer 2.
  const layer2 = scratch.layer2;
  let l2 = 0;
  let l2Degrees = 0;
  if (frontierDegrees <= (totalDegrees - reachedDegrees) / 4 + n / 8) {
    for (let p = offsets[hub]; p < offsets[hub + 1]; p++) {
      const x = nb[p];
      for (let q = offsets[x]; q < offsets[x + 1]; q++) {
        const y = nb[q];
        if (dist[y] === UNSEEN) {
          dist[y] = 2;
          layer2[l2++] = y;
          l2Degrees += offsets[y + 1] - offsets[y];
        }
      }
    }
  } else {
    for (let v = 0; v < n; v++) {
      if (dist[v] !== UNSEEN) continue;
      const end = offsets[v + 1];
      for (let q = offsets[v]; q < end; q++) {
        if (dist[nb[q]] === 1) {
          dist[v] = 2;
          layer2[l2++] = v;
          l2Degrees += end - offsets[v];
          break;
        }
      }
    }
  }
  reachedDegrees += l2Degrees;
  // Layer 3, straight into the bitset.
  const bits = new Uint32Array((n + 31) >>> 5);
  let size = 0;
  if (l2Degrees <= (totalDegrees - reachedDegrees) / 4 + n / 8) {
    for (let i = 0; i < l2; i++) {
      const y = layer2[i];
      for (let q = offsets[y]; q < offsets[y + 1]; q++) {
        const t = nb[q];
        if (dist[t] === UNSEEN) {
          dist[t] = 3;
          bits[t >>> 5] |= 1 << (t & 31);
          size++;
        }
      }
    }
  } else {
    for (let v = 0; v < n; v++) {
      if (dist[v] !== UNSEEN) continue;
      const end = offsets[v + 1];
      for (let q = offsets[v]; q < end; q++) {
        if (dist[nb[q]] === 2) {
          bits[v >>> 5] |= 1 << (v & 31);
          size++;
          break;
        }
      }
    }
  }
  const blocks = Math.ceil(bits.length / BLOCK_WORDS);
  const rank = new Int32Array(blocks);
  let count = 0;
  for (let b = 0; b < blocks; b++) {
    rank[b] = count;
    const end = Math.min(bits.length, (b + 1) * BLOCK_WORDS);
    for (let w = b * BLOCK_WORDS; w < end; w++) count += popcount(bits[w]);
  }
  const rows = s.rowWords > 0 ? s.rowBits.length / s.rowWords : 0;
  return { hub, bits, rank, size, viaFirst: new Int32Array(rows).fill(UNKNOWN), viaArg: new Int32Array(rows), viaBest: new Float64Array(rows) };
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** The i-th (0-based) layer-3 member in ascending index order. */
function select(l: HubLayers, i: number): number {
  const rank = l.rank;
  let lo = 0;
  let hi = rank.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (rank[mid] <= i) lo = mid;
    else hi = mid - 1;
  }
  let left = i - rank[lo];
  for (let w = lo * BLOCK_WORDS; ; w++) {
    let word = l.bits[w];
    const c = popcount(word);
    if (left < c) {
      for (; left > 0; left--) word = (word & (word - 1)) >>> 0;
      return w * 32 + 31 - Math.clz32(word & -word);
    }
    left -= c;
  }
}

/**
 * The witness hub - x - y - target (target at distance 3) whose weakest edge is strongest, with
 * that bottleneck as its weight, written into `out`; ties as in the module comment. The target's neighbours y are taken
 * in ascending order, so a later y that cannot beat the best edge weight can only win a tie with a
 * smaller first x: for it only the common neighbours below the best's first x are looked at.
 */
function witness(s: CsrSnapshot, l: HubLayers, target: number, out: Candidate): Candidate {
  const { offsets, neighbors: nb, weights } = s;
  let best = -Infinity;
  let bestFirstX = 0;
  let bestX = -1;
  let bestY = -1;
  for (let p = offsets[target]; p < offsets[target + 1]; p++) {
    const y = nb[p];
    const wYT = weights[p];
    if (wYT < best) continue; // cannot beat (nor tie) the best
    if (wYT === best) {
      // At most a tie (through <= best), won only with a first x below bestFirstX (y > bestY).
      viaCommon(s, l, y, bestFirstX, true);
      if (scanFirst < 0) continue;
      viaCommon(s, l, y, Infinity, false);
      if (scanBest < best) continue;
      bestFirstX = scanFirst;
      bestX = scanArg;
      bestY = y;
      continue;
    }
    viaCommon(s, l, y, Infinity, false);
    if (scanFirst < 0) continue; // y is not at distance 2
    const through = Math.min(scanBest, wYT);
    if (through > best || (through === best && (scanFirst < bestFirstX || (scanFirst === bestFirstX && y < bestY)))) {
      best = through;
      bestFirstX = scanFirst;
      bestX = scanArg;
      bestY = y;
    }
  }
  const hub = l.hub;
  out.members[0] = out.path[0] = hub;
  out.members[1] = out.path[3] = target;
  out.path[1] = bestX;
  out.path[2] = bestY;
  out.weight = best;
  return out;
}

/** scanCommon(hub, y, ...), answered from the hub's per-row cache when y has an adjacency row. */
function viaCommon(s: CsrSnapshot, l: HubLayers, y: number, limit: number, firstOnly: boolean): void {
  const r = s.rowOf[y];
  if (r < 0) {
    scanCommon(s, l.hub, y, limit, firstOnly);
    return;
  }
  if (l.viaFirst[r] === UNKNOWN) {
    scanCommon(s, l.hub, y, Infinity, false);
    l.viaFirst[r] = scanFirst;
    l.viaArg[r] = scanArg;
    l.viaBest[r] = scanBest;
  } else {
    scanFirst = l.viaFirst[r];
    scanArg = l.viaArg[r];
    scanBest = l.viaBest[r];
  }
  if (scanFirst >= limit) scanFirst = -1; // none below the limit
}

/** scanCommon's results: first common neighbour (-1: none), best min(w(a, x), w(x, b)) and its smallest x. */
let scanFirst = -1;
let scanBest = -Infinity;
let scanArg = -1;

/**
 * Common neighbours x < limit of a and b, ascending: walks the shorter list and looks each x up in
 * the longer node's adjacency row when it has one (galloping through its list only for the weight
 * of a match), else gallops through the longer list. Sets scanFirst, scanBest, scanArg; with
 * firstOnly it stops at the first one.
 */
function scanCommon(s: CsrSnapshot, a: number, b: number, limit: number, firstOnly: boolean): void {
  const { offsets, neighbors: nb, weights } = s;
  const aShorter = offsets[a + 1] - offsets[a] <= offsets[b + 1] - offsets[b];
  const short = aShorter ? a : b;
  const long = aShorter ? b : a;
  let i = offsets[short];
  const iEnd = offsets[short + 1];
  let j = offsets[long];
  const jEnd = offsets[long + 1];
  const row = s.rowOf[long];
  scanFirst = -1;
  scanBest = -Infinity;
  scanArg = -1;
  for (; i < iEnd && j < jEnd; i++) {
    const x = nb[i];
    if (x >= limit) return;
    if (row >= 0) {
      if (!rowHas(s, row, x)) continue;
      if (firstOnly) {
        scanFirst = x;
        return;
      }
    }
    j = gallop(nb, j, jEnd, x);
    if (j < jEnd && nb[j] === x) {
      if (scanFirst < 0) {
        scanFirst = x;
        if (firstOnly) return;
      }
      const through = Math.min(weights[i], weights[j]);
      if (through > scanBest) {
        scanBest = through;
        scanArg = x;
      }
    }
  }
}
