/**
 * 3-hop: a hub KC (top KCs by degree; count or fraction configurable) with a KC at shortest-path
 * distance exactly 3. Hubs are few, so each hub's layer-3 set is cached from one BFS (recomputed
 * when the graph changes) and draws are O(log) lookups. The BFS keeps, per node, the shortest path
 * whose weakest edge is strongest, so weight = that bottleneck and the witness is that path.
 */
import type { CsrSnapshot } from '../../graph/csr.ts';
import type { Rng } from '../../util/rng.ts';
import type { Candidate } from '../types.ts';
import { searchCumulative, type RelationSource } from './source.ts';

export interface HubOptions {
  /** Exactly this many hubs (top by degree). */
  hubCount?: number;
  /** Or this share of the non-isolated KCs (default 0.01, at least one hub). */
  hubFraction?: number;
}

const UNSEEN = 255;

interface HubLayers {
  hub: number;
  /** BFS distance of every node from the hub (UNSEEN beyond 3); used to diff after changes. */
  dist: Uint8Array;
  /** Layer-3 targets ascending, with the two inner nodes of their witness path and its bottleneck. */
  targets: Int32Array;
  via1: Int32Array;
  via2: Int32Array;
  bottleneck: Float64Array;
}

export class ThreeHopSource implements RelationSource {
  readonly relation = '3-hop' as const;
  private snap!: CsrSnapshot;
  private layers: HubLayers[] = [];
  private byHub = new Map<number, HubLayers>();
  private cum = new Float64Array(0);

  constructor(private readonly options: HubOptions) {}

  /** Current hubs (node indices), strongest first. */
  get hubs(): number[] {
    return this.layers.map((l) => l.hub);
  }

  prepare(snap: CsrSnapshot, _newEdges: readonly number[]): number[] {
    this.snap = snap;
    const previous = this.byHub;
    this.layers = selectHubs(snap, this.options).map((h) => bfsLayers(snap, h));
    this.byHub = new Map(this.layers.map((l) => [l.hub, l]));
    this.cum = new Float64Array(this.layers.length);
    let total = 0;
    this.layers.forEach((l, i) => (this.cum[i] = total += l.targets.length));
    // Fresh items: (hub, target) pairs that were not at distance 3 before (or whose hub is new).
    const fresh: number[] = [];
    for (const l of this.layers) {
      const old = previous.get(l.hub);
      for (const t of l.targets) {
        if (!old || t >= old.dist.length || old.dist[t] !== 3) fresh.push(l.hub, t);
      }
    }
    return fresh;
  }

  draw(rng: Rng): Candidate | null {
    const k = this.layers.length;
    if (k === 0 || this.cum[k - 1] === 0) return null;
    const l = this.layers[searchCumulative(this.cum, k, rng.next() * this.cum[k - 1])];
    return candidate(l, rng.int(l.targets.length));
  }

  *sweep(): Iterator<Candidate> {
    for (const l of this.layers) {
      for (let i = 0; i < l.targets.length; i++) yield candidate(l, i);
    }
  }

  *freshFor(hub: number, target: number): Iterator<Candidate> {
    const l = this.byHub.get(hub);
    if (!l) return;
    const i = indexOfSorted(l.targets, target);
    if (i >= 0) yield candidate(l, i);
  }
}

function candidate(l: HubLayers, i: number): Candidate {
  const t = l.targets[i];
  return { members: [l.hub, t], path: [l.hub, l.via1[i], l.via2[i], t], weight: l.bottleneck[i], hop: 3 };
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

let queue = new Int32Array(0);
let parent = new Int32Array(0);
let best = new Float64Array(0);

/** BFS to depth 3 from the hub, keeping the max-bottleneck parent among equal-length paths. */
function bfsLayers(s: CsrSnapshot, hub: number): HubLayers {
  if (queue.length < s.n) {
    queue = new Int32Array(s.n);
    parent = new Int32Array(s.n);
    best = new Float64Array(s.n);
  }
  const dist = new Uint8Array(s.n).fill(UNSEEN);
  dist[hub] = 0;
  best[hub] = Infinity;
  let head = 0;
  let tail = 0;
  queue[tail++] = hub;
  while (head < tail) {
    const u = queue[head++];
    const du = dist[u];
    if (du === 3) continue; // layer 3 is reached, not expanded
    for (let p = s.offsets[u]; p < s.offsets[u + 1]; p++) {
      const v = s.neighbors[p];
      const through = Math.min(best[u], s.weights[p]);
      if (dist[v] === UNSEEN) {
        dist[v] = du + 1;
        best[v] = through;
        parent[v] = u;
        queue[tail++] = v;
      } else if (dist[v] === du + 1 && through > best[v]) {
        best[v] = through;
        parent[v] = u;
      }
    }
  }
  const layer3: number[] = [];
  for (let i = 0; i < tail; i++) if (dist[queue[i]] === 3) layer3.push(queue[i]);
  layer3.sort((a, b) => a - b);
  const n = layer3.length;
  const targets = Int32Array.from(layer3);
  const via1 = new Int32Array(n);
  const via2 = new Int32Array(n);
  const bottleneck = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = targets[i];
    via2[i] = parent[t];
    via1[i] = parent[via2[i]];
    bottleneck[i] = best[t];
  }
  return { hub, dist, targets, via1, via2, bottleneck };
}

function indexOfSorted(a: Int32Array, x: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] === x) return mid;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
