/**
 * The baseline `bench:core` compares core/combos against: what a competent engineer would write
 * first with graphology, sampling the same way (no all-pairs scans), with the same relation mix,
 * quotas, novelty and dedup, and deciding every distance by adjacency tests:
 *  - 1-hop: an edge drawn in proportion to its weight (binary search over cumulative weights);
 *  - 2-hop: a random walk a - m - b; it is a 2-hop pair iff a != b and !graph.hasEdge(a, b)
 *    (m is a common neighbour, so the distance is exactly 2 and a - m - b is the witness);
 *  - 3-hop: a hub (top 1% of the non-isolated KCs by degree, as core's default) and a 3-step walk
 *    hub - x - y - t; distance exactly 3 iff t != hub, !hasEdge(hub, t) and the two have no common
 *    neighbour (the shorter neighbour list, each tested with hasEdge against the other end); the
 *    walk is then a shortest path and the witness, its weakest edge the weight (core finds the
 *    strongest-bottleneck shortest path instead, which is more work, not less);
 *  - community: a random edge (u, v), the common neighbours of its ends (the shorter list filtered
 *    with hasEdge), one of them, and with probability 1/2 a fourth adjacent to all three;
 *  - louvain: graphology-communities-louvain (seeded), 2-3 members of a community, the distance of
 *    each pair capped at 3 by the same adjacency and common-neighbour tests, cliques rejected;
 *  - novelty: a pair is novel iff not adjacent (edges are co-occurrences); 3-4 KCs by walking the
 *    smallest per-KC Set of seed ids and checking the others with Set.has;
 *  - dedup: a Set of key strings (sorted KC ids joined with "|").
 * Neighbour lists are taken from graph.neighbors() once per node and kept (graph.neighbors() builds
 * a new array on every call, which for a hub of 24K neighbours would dominate every walk through it).
 * What it lacks against core/combos: the CSR typed-array mirror, the cached hub layers, the hashed
 * keys and the seeds-per-edge index. The previous baseline (naive-bfs-sampler.ts) decided 2-hop,
 * 3-hop and Louvain distances by a bidirectional BFS per pair, far more work than the question needs.
 */
import louvain from 'graphology-communities-louvain';
import type { UndirectedGraph } from 'graphology';
import { createRng, type Rng } from '../../core/util/rng.ts';

export interface NaiveCombination {
  key: string;
  relation: string;
  hop: number;
  path: string[];
  weight: number;
  novel: boolean;
}

type Graph = UndirectedGraph<{ frequency: number }, { weight: number }>;

export class NaiveSampler {
  private readonly rng: Rng;
  private readonly yielded = new Set<string>();
  private readonly nodes: string[];
  private readonly hubs: string[];
  private readonly adjacency = new Map<string, string[]>();
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
    graph.forEachNode((n) => this.adjacency.set(n, graph.neighbors(n)));
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
  next(maxTries = 10_000): NaiveCombination | null {
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

  private candidate(relation: string): NaiveCombination | null {
    const g = this.graph;
    const pick = this.pick;
    const nbrs = this.neighbors;
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
        const [a, b, w] = this.edges[lo];
        return this.make('1-hop', [a, b], 1, [a, b], w);
      }
      case '2-hop': {
        const a = pick(this.nodes);
        const m = pick(nbrs(a));
        const b = pick(nbrs(m));
        if (a === b || g.hasEdge(a, b)) return null;
        return this.make('2-hop', [a, b], 2, [a, m, b], this.pathWeight([a, m, b]));
      }
      case '3-hop': {
        const h = pick(this.hubs);
        const x = pick(nbrs(h));
        const y = pick(nbrs(x));
        const t = pick(nbrs(y));
        if (this.distanceCappedAt3(h, t) !== 3) return null;
        return this.make('3-hop', [h, t], 3, [h, x, y, t], this.pathWeight([h, x, y, t]));
      }
      case 'community': {
        const [u, v] = pick(this.edges);
        const [shorter, other] = nbrs(u).length <= nbrs(v).length ? [u, v] : [v, u];
        const common = nbrs(shorter).filter((x) => x !== other && g.hasEdge(other, x));
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
          for (let j = i + 1; j < m.length; j++) hop = Math.max(hop, this.distanceCappedAt3(m[i], m[j]));
        }
        if (hop === 1) return null; // a clique
        const weight = Math.min(...m.map((x) => g.getNodeAttribute(x, 'frequency')));
        return this.make('louvain', m, hop, [...m].sort(), weight);
      }
      default:
        throw new Error(`unknown relation ${relation}`);
    }
  }

  // Made once, not per candidate: the bench runs through tsx, whose output names every function
  // expression with a defineProperty call, which would make closures made per call costly.
  private readonly pick = <T>(xs: T[]): T => xs[this.rng.int(xs.length)];
  private readonly neighbors = (n: string): string[] => this.adjacency.get(n) as string[];

  /** 0 (same node), 1 (adjacent), 2 (a common neighbour) or 3 (meaning "3 or more"). */
  private distanceCappedAt3(a: string, b: string): number {
    if (a === b) return 0;
    if (this.graph.hasEdge(a, b)) return 1;
    const na = this.adjacency.get(a) as string[];
    const nb = this.adjacency.get(b) as string[];
    const shorter = na.length <= nb.length ? na : nb;
    const other = na.length <= nb.length ? b : a;
    for (const x of shorter) if (this.graph.hasEdge(x, other)) return 2;
    return 3;
  }

  private pathWeight(path: string[]): number {
    let w = Infinity;
    for (let i = 0; i + 1 < path.length; i++) w = Math.min(w, this.graph.getEdgeAttribute(path[i], path[i + 1], 'weight'));
    return w;
  }

  private make(relation: string, members: string[], hop: number, path: string[], weight: number): NaiveCombination {
    const sorted = [...members].sort();
    let novel: boolean;
    if (members.length === 2) {
      novel = !this.graph.hasEdge(members[0], members[1]);
    } else {
      const sets = sorted.map((k) => this.seedsOf.get(k) as Set<string>).sort((x, y) => x.size - y.size);
      novel = true;
      for (const s of sets[0]) {
        if (sets.every((set) => set.has(s))) {
          novel = false;
          break;
        }
      }
    }
    return { key: sorted.join('|'), relation, hop, path, weight, novel };
  }
}
