/**
 * The baseline `bench:core` compared against until the 100K-KC bench (kept as an extra column; the
 * headline baseline is ./naive-sampler.ts): the same relation mix, quotas, novelty and dedup, written
 * over graphology's own API, deciding every distance by a BFS per pair:
 *  - a candidate pair comes from a short random walk (2 steps for 2-hop, 3 steps from a hub for
 *    3-hop) and its relation is decided by a BFS per pair (graphology-shortest-path bidirectional),
 *    which also gives the witness path;
 *  - cliques by intersecting graph.neighbors() lists with graph.hasEdge();
 *  - Louvain groups from graphology-communities-louvain, distances again by BFS per pair;
 *  - novelty by intersecting per-KC Sets of seed ids; dedup by a Set of key strings.
 * A BFS per pair is more than anyone needs to tell distance 2 or 3 from less (an adjacency test
 * does), so this ratio overstates the gain; see bench/README.md.
 */
import louvain from 'graphology-communities-louvain';
import { bidirectional } from 'graphology-shortest-path';
import type { UndirectedGraph } from 'graphology';
import { createRng, type Rng } from '../../core/util/rng.ts';

export interface NaiveBfsCombination {
  key: string;
  relation: string;
  hop: number;
  path: string[];
  weight: number;
  novel: boolean;
}

type Graph = UndirectedGraph<{ frequency: number }, { weight: number }>;

export class NaiveBfsSampler {
  private readonly rng: Rng;
  private readonly yielded = new Set<string>();
  private readonly nodes: string[];
  private readonly hubs: string[];
  private readonly edges: [string, string, number][] = [];
  private readonly cumulative: number[] = [];
  private readonly communities: string[][];
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly graph: Graph,
    private readonly seedsOf: Map<string, Set<string>>,
    private readonly shares: Record<string, number>,
    seed: number,
  ) {
    this.rng = createRng(seed);
    this.nodes = graph.nodes().filter((n) => graph.degree(n) > 0);
    const byDegree = [...this.nodes].sort((a, b) => graph.degree(b) - graph.degree(a));
    this.hubs = byDegree.slice(0, Math.max(1, Math.ceil(0.01 * this.nodes.length)));
    let total = 0;
    graph.forEachEdge((_e, attr, s, t) => {
      this.edges.push([s, t, attr.weight]);
      this.cumulative.push((total += attr.weight));
    });
    const lrng = createRng(seed ^ 0x4c6f7576);
    const mapping = louvain(graph, { getEdgeWeight: 'weight', rng: () => lrng.next() });
    const groups = new Map<number, string[]>();
    for (const [node, c] of Object.entries(mapping)) {
      if (!groups.has(c)) groups.set(c, []);
      (groups.get(c) as string[]).push(node);
    }
    this.communities = [...groups.values()].filter((g) => g.length >= 2);
    for (const r of Object.keys(shares)) this.counts.set(r, 0);
  }

  /** Next accepted combination (tries up to `maxTries` candidates). */
  next(maxTries = 10_000): NaiveBfsCombination | null {
    let total = 0;
    for (const c of this.counts.values()) total += c;
    let relation = '';
    let best = -Infinity;
    for (const [r, share] of Object.entries(this.shares)) {
      const deficit = share * (total + 1) - (this.counts.get(r) as number);
      if (deficit > best) {
        best = deficit;
        relation = r;
      }
    }
    for (let i = 0; i < maxTries; i++) {
      const c = this.candidate(relation);
      if (!c || this.yielded.has(c.key)) continue;
      this.yielded.add(c.key);
      this.counts.set(relation, (this.counts.get(relation) as number) + 1);
      return c;
    }
    return null;
  }

  get perRelation(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  private candidate(relation: string): NaiveBfsCombination | null {
    const g = this.graph;
    const pick = <T>(xs: T[]): T => xs[this.rng.int(xs.length)];
    switch (relation) {
      case '1-hop': {
        const x = this.rng.next() * this.cumulative[this.cumulative.length - 1];
        let lo = 0;
        let hi = this.cumulative.length - 1;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (this.cumulative[mid] > x) hi = mid;
          else lo = mid + 1;
        }
        const i = lo;
        const [a, b, w] = this.edges[i];
        return this.make('1-hop', [a, b], 1, [a, b], w);
      }
      case '2-hop': {
        const a = pick(this.nodes);
        const m = pick(g.neighbors(a));
        const b = pick(g.neighbors(m));
        if (a === b) return null;
        const path = bidirectional(g, a, b);
        if (!path || path.length !== 3) return null;
        return this.make('2-hop', [a, b], 2, path, this.pathWeight(path));
      }
      case '3-hop': {
        const h = pick(this.hubs);
        let t = h;
        for (let s = 0; s < 3; s++) t = pick(g.neighbors(t));
        const path = bidirectional(g, h, t);
        if (!path || path.length !== 4) return null;
        return this.make('3-hop', [h, t], 3, path, this.pathWeight(path));
      }
      case 'community': {
        const [u, v] = pick(this.edges);
        const common = g.neighbors(u).filter((x) => x !== v && g.hasEdge(v, x));
        if (common.length === 0) return null;
        const w = pick(common);
        let members = [u, v, w];
        if (this.rng.next() < 0.5) {
          const fourth = common.filter((x) => x !== w && g.hasEdge(w, x));
          if (fourth.length) members = [u, v, w, pick(fourth)];
        }
        let weight = Infinity;
        for (const a of members) for (const b of members) if (a < b) weight = Math.min(weight, g.getEdgeAttribute(a, b, 'weight'));
        return this.make('community', members, 1, [...members].sort(), weight);
      }
      case 'louvain': {
        const c = pick(this.communities);
        const size = c.length >= 3 && this.rng.next() < 0.5 ? 3 : 2;
        const members = new Set<string>();
        while (members.size < size) members.add(pick(c));
        const m = [...members];
        let hop = 0;
        for (let i = 0; i < m.length; i++) {
          for (let j = i + 1; j < m.length; j++) {
            const p = bidirectional(g, m[i], m[j]);
            hop = Math.max(hop, p ? Math.min(p.length - 1, 3) : 3);
          }
        }
        if (hop === 1) return null; // a clique
        const weight = Math.min(...m.map((x) => g.getNodeAttribute(x, 'frequency')));
        return this.make('louvain', m, hop, [...m].sort(), weight);
      }
      default:
        throw new Error(`unknown relation ${relation}`);
    }
  }

  private pathWeight(path: string[]): number {
    let w = Infinity;
    for (let i = 0; i + 1 < path.length; i++) w = Math.min(w, this.graph.getEdgeAttribute(path[i], path[i + 1], 'weight'));
    return w;
  }

  private make(relation: string, members: string[], hop: number, path: string[], weight: number): NaiveBfsCombination {
    const sorted = [...members].sort();
    const [first, ...rest] = sorted.map((k) => this.seedsOf.get(k) as Set<string>);
    const novel = ![...first].some((s) => rest.every((set) => set.has(s)));
    return { key: sorted.join('|'), relation, hop, path, weight, novel };
  }
}
