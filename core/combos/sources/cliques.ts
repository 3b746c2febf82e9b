/**
 * community (the paper's sense): cliques of 3-4 KCs, i.e. fully connected groups.
 * Draw: a uniform random edge (u, v), a random common neighbour w (triangle), and with probability
 * `fourCliqueShare` a random x adjacent to u, v and w (4-clique; falls back to the triangle if none).
 */
import { edgeWeight, isAdjacent, type CsrSnapshot } from '../../graph/csr.ts';
import type { Rng } from '../../util/rng.ts';
import type { Candidate } from '../types.ts';
import { commonNeighbors, minPairWeight, ownerOfPosition, type RelationSource } from './source.ts';

export class CliqueSource implements RelationSource {
  readonly relation = 'community' as const;
  private snap!: CsrSnapshot;
  private common = new Int32Array(0);
  private common2 = new Int32Array(0);
  private readonly weightOf = (u: number, v: number): number => edgeWeight(this.snap, u, v);

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
      let k2 = 0;
      for (let i = 0; i < k; i++) {
        const x = this.common[i];
        if (x !== w && isAdjacent(s, w, x)) this.common2[k2++] = x;
      }
      if (k2 > 0) return this.candidate([u, v, w, this.common2[rng.int(k2)]]);
    }
    return this.candidate([u, v, w]);
  }

  /** Each clique once, as u < v < w (< x). */
  *sweep(): Iterator<Candidate> {
    const s = this.snap;
    for (let u = 0; u < s.n; u++) {
      for (let p = s.offsets[u]; p < s.offsets[u + 1]; p++) {
        const v = s.neighbors[p];
        if (v <= u) continue;
        const common = new Int32Array(this.common.length);
        const k = commonNeighbors(s, u, v, common, v);
        for (let i = 0; i < k; i++) {
          const w = common[i];
          yield this.candidate([u, v, w]);
          for (let j = i + 1; j < k; j++) {
            if (isAdjacent(s, w, common[j])) yield this.candidate([u, v, w, common[j]]);
          }
        }
      }
    }
  }

  /** Cliques containing the new edge (u, x): its common neighbours, and adjacent pairs of them. */
  *freshFor(u: number, x: number): Iterator<Candidate> {
    const s = this.snap;
    if (!isAdjacent(s, u, x)) return;
    const common = new Int32Array(this.common.length);
    const k = commonNeighbors(s, u, x, common);
    for (let i = 0; i < k; i++) {
      yield this.candidate([u, x, common[i]]);
      for (let j = i + 1; j < k; j++) {
        if (isAdjacent(s, common[i], common[j])) yield this.candidate([u, x, common[i], common[j]]);
      }
    }
  }

  private candidate(members: number[]): Candidate {
    const sorted = members.slice().sort((a, b) => a - b);
    return { members, path: sorted, weight: minPairWeight(this.snap, members, this.weightOf), hop: 1 };
  }
}
