/** 1-hop: explicit pairs (co-occurred in a seed), drawn in proportion to their co-occurrence weight. */
import { edgeWeight, type CsrSnapshot } from '../../graph/csr.ts';
import type { Rng } from '../../util/rng.ts';
import type { Candidate } from '../types.ts';
import { searchCumulative, type RelationSource } from './source.ts';

export class OneHopSource implements RelationSource {
  readonly relation = '1-hop' as const;
  private snap!: CsrSnapshot;
  /** Position (in snap.neighbors) of each edge's u < v half, and cumulative weights. */
  private positions = new Int32Array(0);
  private owners = new Int32Array(0);
  private cum = new Float64Array(0);
  private edges = 0;

  prepare(snap: CsrSnapshot, newEdges: readonly number[]): number[] {
    this.snap = snap;
    this.edges = snap.edgeCount;
    this.positions = new Int32Array(this.edges);
    this.owners = new Int32Array(this.edges);
    this.cum = new Float64Array(this.edges);
    let e = 0;
    let total = 0;
    for (let u = 0; u < snap.n; u++) {
      for (let p = snap.offsets[u]; p < snap.offsets[u + 1]; p++) {
        if (snap.neighbors[p] > u) {
          total += snap.weights[p];
          this.positions[e] = p;
          this.owners[e] = u;
          this.cum[e++] = total;
        }
      }
    }
    return newEdges.slice();
  }

  draw(rng: Rng): Candidate | null {
    if (this.edges === 0) return null;
    const e = searchCumulative(this.cum, this.edges, rng.next() * this.cum[this.edges - 1]);
    return this.candidate(this.owners[e], this.snap.neighbors[this.positions[e]], this.snap.weights[this.positions[e]]);
  }

  *sweep(): Iterator<Candidate> {
    for (let e = 0; e < this.edges; e++) {
      yield this.candidate(this.owners[e], this.snap.neighbors[this.positions[e]], this.snap.weights[this.positions[e]]);
    }
  }

  *freshFor(u: number, v: number): Iterator<Candidate> {
    const w = edgeWeight(this.snap, u, v);
    if (w > 0) yield this.candidate(u, v, w);
  }

  /** Reused for every candidate (see RelationSource). */
  private readonly out: Candidate = { members: [0, 0], path: [0, 0], weight: 0, hop: 1 };

  private candidate(u: number, v: number, w: number): Candidate {
    const c = this.out;
    c.members[0] = c.path[0] = u;
    c.members[1] = c.path[1] = v;
    c.weight = w;
    return c;
  }
}
