/**
 * louvain — OUR EXTENSION, not in the GRIP paper: groups of 2-3 KCs drawn from one Louvain
 * community (graphology-communities-louvain with a seeded RNG) that are not already a clique, i.e.
 * concepts of one area of mathematics that never formed a fully connected group.
 * Louvain is a whole-graph computation (~150 ms at 10K KCs), so communities are recomputed only when
 * the edge count grew by `refreshRatio` since the last run (default 5%); meanwhile KCs that are newer
 * than the last run are in no community. Validity (not a clique, hop) is always checked on the
 * current graph. There is no fresh-item phase for this relation.
 */
import louvain from 'graphology-communities-louvain';
import { isAdjacent, type CsrSnapshot } from '../../graph/csr.ts';
import type { KcGraph } from '../../graph/kc-graph.ts';
import { createRng, type Rng } from '../../util/rng.ts';
import type { Candidate } from '../types.ts';
import { emptyIterator, searchCumulative, type RelationSource } from './source.ts';

export interface LouvainOptions {
  /** RNG seed for the Louvain run (derived from the sampler seed). */
  seed: number;
  /** Louvain resolution (default 1). */
  resolution: number;
  /** Probability of drawing a group of 3 rather than 2 (default 0.5). */
  tripleShare: number;
  /** Recompute communities once the edge count grew by this share since the last run. */
  refreshRatio: number;
}

export class LouvainSource implements RelationSource {
  readonly relation = 'louvain' as const;
  private snap!: CsrSnapshot;
  /** Communities of size >= 2, members ascending; and their ids. */
  private communities: Int32Array[] = [];
  private communityIds: number[] = [];
  private cum = new Float64Array(0);
  /** Edge count at the last Louvain run (-1: never ran). */
  private edgesAtLastRun = -1;
  /** Reused for every candidate of 2 and of 3 members (see RelationSource). */
  private readonly out2: Candidate = { members: [0, 0], path: [], weight: 0, hop: 2, community: 0 };
  private readonly out3: Candidate = { members: [0, 0, 0], path: [], weight: 0, hop: 2, community: 0 };

  constructor(private readonly kcGraph: KcGraph, private readonly options: LouvainOptions) {}

  prepare(snap: CsrSnapshot, _newEdges: readonly number[]): number[] {
    this.snap = snap;
    const grown = snap.edgeCount >= this.edgesAtLastRun * (1 + this.options.refreshRatio);
    if (this.edgesAtLastRun > 0 && !grown) return [];
    this.edgesAtLastRun = snap.edgeCount;
    this.communities = [];
    this.communityIds = [];
    if (snap.edgeCount > 0) {
      const rng = createRng(this.options.seed);
      const mapping = louvain(this.kcGraph.graph, {
        getEdgeWeight: 'weight',
        resolution: this.options.resolution,
        rng: () => rng.next(),
      });
      const groups = new Map<number, number[]>();
      for (let u = 0; u < snap.n; u++) {
        const c = mapping[snap.ids[u]];
        if (c === undefined) continue;
        let g = groups.get(c);
        if (!g) groups.set(c, (g = []));
        g.push(u);
      }
      for (const [c, members] of [...groups].sort((a, b) => a[0] - b[0])) {
        if (members.length < 2) continue;
        this.communities.push(Int32Array.from(members));
        this.communityIds.push(c);
      }
    }
    this.cum = new Float64Array(this.communities.length);
    let total = 0;
    this.communities.forEach((m, i) => (this.cum[i] = total += m.length));
    return [];
  }

  draw(rng: Rng): Candidate | null {
    const k = this.communities.length;
    if (k === 0) return null;
    const ci = searchCumulative(this.cum, k, rng.next() * this.cum[k - 1]);
    const members = this.communities[ci];
    const size = members.length >= 3 && rng.next() < this.options.tripleShare ? 3 : 2;
    const a = members[rng.int(members.length)];
    let b = a;
    while (b === a) b = members[rng.int(members.length)];
    if (size === 2) return this.candidate(ci, a, b);
    let c = a;
    while (c === a || c === b) c = members[rng.int(members.length)];
    return this.candidate(ci, a, b, c);
  }

  /** Per community: all non-adjacent pairs, then all non-clique triples. */
  *sweep(): Iterator<Candidate> {
    for (let ci = 0; ci < this.communities.length; ci++) {
      const m = this.communities[ci];
      for (let i = 0; i < m.length; i++) {
        for (let j = i + 1; j < m.length; j++) {
          const c = this.candidate(ci, m[i], m[j]);
          if (c) yield c;
        }
      }
      for (let i = 0; i < m.length; i++) {
        for (let j = i + 1; j < m.length; j++) {
          for (let k = j + 1; k < m.length; k++) {
            const c = this.candidate(ci, m[i], m[j], m[k]);
            if (c) yield c;
          }
        }
      }
    }
  }

  freshFor(): Iterator<Candidate> {
    return emptyIterator();
  }

  /**
   * The group a, b (, c when >= 0) of community ci; null when it is a clique (those belong to 1-hop /
   * community). The sampler writes its witness as its sorted KC ids, so `path` is just the members.
   */
  private candidate(ci: number, a: number, b: number, c = -1): Candidate | null {
    const s = this.snap;
    let hop = distanceCappedAt3(s, a, b);
    if (c >= 0) hop = Math.max(hop, distanceCappedAt3(s, a, c), distanceCappedAt3(s, b, c));
    if (hop === 1) return null;
    const out = c < 0 ? this.out2 : this.out3;
    const m = out.members;
    m[0] = a;
    m[1] = b;
    if (c >= 0) m[2] = c;
    out.path = m;
    out.weight = c < 0 ? Math.min(s.frequency[a], s.frequency[b]) : Math.min(s.frequency[a], s.frequency[b], s.frequency[c]);
    out.hop = hop;
    out.community = this.communityIds[ci];
    return out;
  }
}

/** 1 if adjacent, 2 if they share a neighbour, else 3 (meaning "3 or more"). */
export function distanceCappedAt3(s: CsrSnapshot, a: number, b: number): number {
  if (isAdjacent(s, a, b)) return 1;
  const aSmaller = s.offsets[a + 1] - s.offsets[a] <= s.offsets[b + 1] - s.offsets[b];
  const small = aSmaller ? a : b;
  const other = aSmaller ? b : a;
  for (let p = s.offsets[small]; p < s.offsets[small + 1]; p++) {
    if (isAdjacent(s, s.neighbors[p], other)) return 2;
  }
  return 3;
}
