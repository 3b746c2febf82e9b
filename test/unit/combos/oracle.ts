/**
 * Brute-force oracle for sampler tests: BFS distances, novelty by scanning seed sets, and the full
 * candidate sets of each relation, computed independently of the sampler's code.
 */
import { KcGraph } from '../../../core/graph/index.ts';
import type { Combination } from '../../../core/combos/index.ts';

export type SeedSpec = { id: string; kcIds: string[] };

export function buildGraph(seeds: SeedSpec[]): KcGraph {
  const g = new KcGraph();
  for (const s of seeds) g.addSeed(s.id, s.kcIds);
  return g;
}

export class Oracle {
  private readonly sets: Set<string>[];
  private readonly nodes: string[];
  private readonly distCache = new Map<string, Map<string, number>>();

  constructor(private readonly g: KcGraph, seeds: SeedSpec[]) {
    this.sets = seeds.map((s) => new Set(s.kcIds));
    this.nodes = g.graph.nodes().sort();
  }

  distances(from: string): Map<string, number> {
    let d = this.distCache.get(from);
    if (d) return d;
    d = new Map([[from, 0]]);
    const queue = [from];
    while (queue.length) {
      const u = queue.shift() as string;
      for (const v of this.g.graph.neighbors(u)) {
        if (!d.has(v)) {
          d.set(v, (d.get(u) as number) + 1);
          queue.push(v);
        }
      }
    }
    this.distCache.set(from, d);
    return d;
  }

  distance(a: string, b: string): number {
    return this.distances(a).get(b) ?? Infinity;
  }

  novel(kcIds: string[]): boolean {
    return !this.sets.some((s) => kcIds.every((k) => s.has(k)));
  }

  weight(a: string, b: string): number {
    return this.g.graph.hasEdge(a, b) ? this.g.graph.getEdgeAttribute(a, b, 'weight') : 0;
  }

  isClique(ids: string[]): boolean {
    return ids.every((a, i) => ids.every((b, j) => i === j || this.g.graph.hasEdge(a, b)));
  }

  /** Pairs at distance exactly 2 (keys). */
  twoHopKeys(): Set<string> {
    const out = new Set<string>();
    for (const a of this.nodes) for (const [b, d] of this.distances(a)) if (d === 2 && a < b) out.add(`${a}|${b}`);
    return out;
  }

  /** (hub, target) keys at distance exactly 3. */
  threeHopKeys(hubs: string[]): Set<string> {
    const out = new Set<string>();
    for (const h of hubs) for (const [t, d] of this.distances(h)) if (d === 3) out.add([h, t].sort().join('|'));
    return out;
  }

  /** The strongest weakest edge over all shortest paths h - x - y - t (t at distance 3 from h). */
  bestBottleneck3(h: string, t: string): number {
    const g = this.g.graph;
    let best = -Infinity;
    for (const x of g.neighbors(h)) {
      for (const y of g.neighbors(x)) {
        if (!g.hasEdge(y, t) || this.distance(h, y) !== 2) continue;
        best = Math.max(best, Math.min(this.weight(h, x), this.weight(x, y), this.weight(y, t)));
      }
    }
    return best;
  }

  /** All cliques of 3 and 4 KCs (keys). */
  cliqueKeys(): Set<string> {
    const out = new Set<string>();
    const n = this.nodes;
    const adj = (a: string, b: string): boolean => this.g.graph.hasEdge(a, b);
    for (let i = 0; i < n.length; i++)
      for (let j = i + 1; j < n.length; j++) {
        if (!adj(n[i], n[j])) continue;
        for (let k = j + 1; k < n.length; k++) {
          if (!adj(n[i], n[k]) || !adj(n[j], n[k])) continue;
          out.add([n[i], n[j], n[k]].join('|'));
          for (let l = k + 1; l < n.length; l++) {
            if (adj(n[i], n[l]) && adj(n[j], n[l]) && adj(n[k], n[l])) out.add([n[i], n[j], n[k], n[l]].join('|'));
          }
        }
      }
    return out;
  }

  /** Checks every documented property of one combination; returns a reason or null. */
  violation(c: Combination, hubs: string[]): string | null {
    const sorted = [...c.kcIds].sort();
    if (c.kcIds.join('|') !== sorted.join('|') || c.key !== sorted.join('|')) return 'key/kcIds not canonical';
    if (new Set(c.kcIds).size !== c.kcIds.length) return 'repeated KC';
    if (c.novel !== this.novel(c.kcIds)) return `novel=${c.novel} but brute force says ${!c.novel}`;
    for (let i = 0; i + 1 < c.path.length && c.relation !== 'community' && c.relation !== 'louvain'; i++) {
      if (!this.g.graph.hasEdge(c.path[i], c.path[i + 1])) return `witness step ${c.path[i]}-${c.path[i + 1]} is not an edge`;
    }
    const [a, b] = c.kcIds;
    const pathWeights = c.path.slice(1).map((x, i) => this.weight(c.path[i], x));
    switch (c.relation) {
      case '1-hop':
        if (c.hop !== 1 || this.distance(a, b) !== 1) return '1-hop not adjacent';
        if (c.weight !== this.weight(a, b)) return '1-hop weight';
        break;
      case '2-hop':
        if (c.hop !== 2 || this.distance(a, b) !== 2) return `2-hop at BFS distance ${this.distance(a, b)}`;
        if (c.path.length !== 3 || [c.path[0], c.path[2]].sort().join('|') !== c.key) return '2-hop witness endpoints';
        if (c.weight !== Math.min(...pathWeights)) return '2-hop weight';
        break;
      case '3-hop': {
        if (c.hop !== 3 || this.distance(a, b) !== 3) return `3-hop at BFS distance ${this.distance(a, b)}`;
        if (!hubs.includes(c.path[0]) || c.path.length !== 4 || [c.path[0], c.path[3]].sort().join('|') !== c.key) return '3-hop witness';
        if (c.weight !== Math.min(...pathWeights)) return '3-hop weight';
        if (c.weight !== this.bestBottleneck3(c.path[0], c.path[3])) return '3-hop witness is not the strongest-bottleneck shortest path';
        break;
      }
      case 'community':
        if (c.kcIds.length < 3 || c.kcIds.length > 4 || !this.isClique(c.kcIds) || c.hop !== 1) return 'not a 3-4 clique';
        if (c.path.join('|') !== c.key) return 'community witness';
        if (c.weight !== Math.min(...c.kcIds.flatMap((x, i) => c.kcIds.slice(i + 1).map((y) => this.weight(x, y))))) return 'community weight';
        break;
      case 'louvain': {
        if (c.extension !== true) return 'louvain without extension flag';
        if (c.kcIds.length < 2 || c.kcIds.length > 3 || this.isClique(c.kcIds)) return 'louvain group is a clique or bad size';
        const maxD = Math.max(...c.kcIds.flatMap((x, i) => c.kcIds.slice(i + 1).map((y) => this.distance(x, y))));
        if (c.hop !== Math.min(maxD, 3)) return `louvain hop ${c.hop} vs BFS ${maxD}`;
        if (c.weight !== Math.min(...c.kcIds.map((k) => this.g.frequencyOf(k)))) return 'louvain weight';
        break;
      }
    }
    if (c.relation !== 'louvain' && c.extension !== undefined) return 'paper relation flagged as extension';
    return null;
  }
}

/** Drains a sampler to exhaustion (bounded). */
export function drain(next: (n: number) => Combination[], limit = 1_000_000): Combination[] {
  const out: Combination[] = [];
  for (;;) {
    const batch = next(97);
    out.push(...batch);
    if (batch.length === 0 || out.length > limit) return out;
  }
}
