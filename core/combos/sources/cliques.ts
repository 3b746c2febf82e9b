/**
 * community (the paper's sense): cliques of 3-4 KCs, i.e. fully connected groups.
 * Draw: a uniform random edge (u, v), a random common neighbour w (triangle), and with probability
 * `fourCliqueShare` a random x adjacent to u, v and w (4-clique; falls back to the triangle if none).
 */
import { edgeWeight, isAdjacent, type CsrSnapshot } from '../../graph/csr.ts';
import type { Rng } from '../../util/rng.ts';
import type { Candidate } from '../types.ts';
import { adjacentAmong, commonNeighbors, ownerOfPosition, type RelationSource } from './source.ts';

export class CliqueSource implements RelationSource {
  readonly relation = 'community' as const;
  private snap!: CsrSnapshot;
  private common = new Int32Array(0);
  private common2 = new Int32Array(0);
  /** Reused for every candidate of 3 and of 4 members (see RelationSource). */
  private readonly out3: Candidate = { members: [0, 0, 0], path: [], weight: 0, hop: 1 };
  private readonly out4: Candidate = { members: [0, 0, 0, 0], path: [], weight: 0, hop: 1 };

  constructor(private readonly fourCliqueShare: number) {}

  prepare(snap: CsrSnapshot, newEdges: readonly number[]): number[] {
    this.snap = snap;
    let maxDegree = 0;
    for (let u = 0; u < snap.n; u++) maxDegree = Math.max(maxDegree, snap.offsets[u + 1] - snap.offsets[u]);
    this.common = new Int32Array(maxDegree);
    this.common2 = new Int32Array(maxDegree);
    return newEdges.slice();
  }

  draw(rng: Rng): Candidate | null {
    const s = this.snap;
    const positions = s.neighbors.length;
    if (positions === 0) return null;
    const p = rng.int(positions);
    const u = ownerOfPosition(s, p);
    const v = s.neighbors[p];
    const k = commonNeighbors(s, u, v, this.common);
    if (k === 0) return null;
    const w = this.common[rng.int(k)];
    if (rng.next() < this.fourCliqueShare) {
      // The other common neighbours adjacent to w (never w itself: no self-loops), ascending.
      const k2 = adjacentAmong(s, w, this.common, 0, k, this.common2);
      if (k2 > 0) return this.candidate(u, v, w, this.common2[rng.int(k2)]);
    }
    return this.candidate(u, v, w);
  }

  /** Each clique once, as u < v < w (< x). */
  *sweep(): Iterator<Candidate> {
    const s = this.snap;
    // Buffers for the whole sweep: each list is consumed before the next is made.
    const common = new Int32Array(this.common.length);
    const fourth = new Int32Array(this.common.length);
    for (let u = 0; u < s.n; u++) {
      for (let p = s.offsets[u]; p < s.offsets[u + 1]; p++) {
        const v = s.neighbors[p];
        if (v <= u) continue;
        const k = commonNeighbors(s, u, v, common, v);
        for (let i = 0; i < k; i++) {
          const w = common[i];
          yield this.candidate(u, v, w);
          const k2 = adjacentAmong(s, w, common, i + 1, k, fourth);
          for (let j = 0; j < k2; j++) yield this.candidate(u, v, w, fourth[j]);
        }
      }
    }
  }

  /** Cliques containing the new edge (u, x): its common neighbours, and adjacent pairs of them. */
  *freshFor(u: number, x: number): Iterator<Candidate> {
    const s = this.snap;
    if (!isAdjacent(s, u, x)) return;
    const size = Math.min(s.offsets[u + 1] - s.offsets[u], s.offsets[x + 1] - s.offsets[x]);
    const common = new Int32Array(size);
    const fourth = new Int32Array(size);
    const k = commonNeighbors(s, u, x, common);
    for (let i = 0; i < k; i++) {
      yield this.candidate(u, x, common[i]);
      const k2 = adjacentAmong(s, common[i], common, i + 1, k, fourth);
      for (let j = 0; j < k2; j++) yield this.candidate(u, x, common[i], fourth[j]);
    }
  }

  /** The clique u, v, w (, x when >= 0). The sampler writes its witness as its sorted KC ids, so `path` is just the members. */
  private candidate(u: number, v: number, w: number, x = -1): Candidate {
    const c = x < 0 ? this.out3 : this.out4;
    const m = c.members;
    m[0] = u;
    m[1] = v;
    m[2] = w;
    if (x >= 0) m[3] = x;
    let weight = Infinity;
    for (let i = 0; i < m.length; i++) {
      for (let j = i + 1; j < m.length; j++) weight = Math.min(weight, edgeWeight(this.snap, m[i], m[j]));
    }
    c.path = m;
    c.weight = weight;
    return c;
  }
}
