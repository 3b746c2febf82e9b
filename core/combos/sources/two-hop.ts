/**
 * 2-hop: two KCs that share a neighbour but are not adjacent (distance exactly 2).
 * Draw: a middle node m with probability proportional to C(deg m, 2), then two distinct random
 * neighbours: every 2-path is equally likely, and no pair list is ever materialized.
 */
import { edgePosition, isAdjacent, type CsrSnapshot } from '../../graph/csr.ts';
import type { Rng } from '../../util/rng.ts';
import type { Candidate } from '../types.ts';
import { searchCumulative, type RelationSource } from './source.ts';

export class TwoHopSource implements RelationSource {
  readonly relation = '2-hop' as const;
  private snap!: CsrSnapshot;
  private cum = new Float64Array(0);
  /** Reused for every candidate (see RelationSource). */
  private readonly out: Candidate = { members: [0, 0], path: [0, 0, 0], weight: 0, hop: 2 };

  prepare(snap: CsrSnapshot, newEdges: readonly number[]): number[] {
    this.snap = snap;
    this.cum = new Float64Array(snap.n);
    let total = 0;
    for (let u = 0; u < snap.n; u++) {
      const d = snap.offsets[u + 1] - snap.offsets[u];
      total += (d * (d - 1)) / 2;
      this.cum[u] = total;
    }
    return newEdges.slice();
  }

  draw(rng: Rng): Candidate | null {
    const s = this.snap;
    const total = s.n > 0 ? this.cum[s.n - 1] : 0;
    if (total === 0) return null;
    const m = searchCumulative(this.cum, s.n, rng.next() * total);
    const start = s.offsets[m];
    const d = s.offsets[m + 1] - start;
    const i = rng.int(d);
    let j = rng.int(d - 1);
    if (j >= i) j++;
    return this.candidate(start + i, m, start + j);
  }

  *sweep(): Iterator<Candidate> {
    const s = this.snap;
    for (let m = 0; m < s.n; m++) {
      const end = s.offsets[m + 1];
      for (let p = s.offsets[m]; p < end; p++) {
        for (let q = p + 1; q < end; q++) {
          const c = this.candidate(p, m, q);
          if (c) yield c;
        }
      }
    }
  }

  /** 2-paths through the new edge (u, x): every new 2-path has its middle on a new edge. */
  *freshFor(u: number, x: number): Iterator<Candidate> {
    const s = this.snap;
    for (const [m, a] of [[u, x], [x, u]]) {
      const pa = edgePosition(s, m, a);
      if (pa < 0) continue;
      for (let p = s.offsets[m]; p < s.offsets[m + 1]; p++) {
        if (p === pa) continue;
        const c = this.candidate(pa, m, p);
        if (c) yield c;
      }
    }
  }

  /** Candidate a - m - b from two neighbour positions of m, or null when a and b are adjacent. */
  private candidate(pa: number, m: number, pb: number): Candidate | null {
    const s = this.snap;
    const a = s.neighbors[pa];
    const b = s.neighbors[pb];
    if (isAdjacent(s, a, b)) return null;
    const c = this.out;
    c.members[0] = a;
    c.members[1] = b;
    c.path[0] = a;
    c.path[1] = m;
    c.path[2] = b;
    c.weight = Math.min(s.weights[pa], s.weights[pb]);
    return c;
  }
}
