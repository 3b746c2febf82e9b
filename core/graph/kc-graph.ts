/**
 * The KC relation graph (GRIP step 3): nodes are key concepts with their seed frequency, an explicit
 * edge joins two KCs extracted from the same seed, its weight is the co-occurrence count.
 *
 * graphology (`graph`) is the graph of record, so users keep its ecosystem (louvain, traversal,
 * exporters). Beside it we keep what sampling needs to answer fast: integer node indices, per-node
 * adjacency maps, the KC -> seeds index (novelty of 3-4 KC sets) and an append-only log of new edges
 * (so a sampler can enumerate exactly the combinations that new edges opened).
 */
import { UndirectedGraph } from 'graphology';
import { buildCsr, degreeOf, edgePosition, type CsrSnapshot } from './csr.ts';
import { computeStats, type GraphStats } from './stats.ts';

export interface KcNodeAttributes {
  /** Number of seeds this KC was extracted from. */
  frequency: number;
}
export interface KcEdgeAttributes {
  /** Number of seeds both KCs were extracted from. */
  weight: number;
}

export interface AddSeedResult {
  /** false when this seed id was already added (a redelivery): nothing was counted again. */
  added: boolean;
  newNodes: number;
  newEdges: number;
}

/** KC ids are joined with this character into combination keys, so it may not occur in an id. */
export const KEY_SEPARATOR = '|';

export class KcGraph {
  /** The graph of record. Mutate it only through addSeed, or the mirrors below go stale. */
  readonly graph = new UndirectedGraph<KcNodeAttributes, KcEdgeAttributes>();

  private readonly nodeIds: string[] = [];
  private readonly nodeIndex = new Map<string, number>();
  private readonly adjacency: Map<number, number>[] = [];
  private readonly frequency: number[] = [];
  /** Seeds containing each KC, as ascending seed indices. */
  private readonly kcSeeds: number[][] = [];
  private readonly seedIndex = new Map<string, number>();
  /** KC indices of each seed, ascending. */
  private readonly seedKcs: Int32Array[] = [];
  private readonly seedNames: string[] = [];
  /** Endpoints of each edge in creation order: [u0, v0, u1, v1, ...]. */
  private readonly edgeLog: number[] = [];
  private versionCounter = 0;
  private snapshotCache: CsrSnapshot | null = null;
  private pairSeedsCache: { version: number; offsets: Int32Array; seeds: Int32Array } | null = null;

  /** Increases on every mutation; a sampler compares it to know it must catch up. */
  get version(): number {
    return this.versionCounter;
  }
  get nodeCount(): number {
    return this.nodeIds.length;
  }
  get edgeCount(): number {
    return this.edgeLog.length / 2;
  }
  get seedCount(): number {
    return this.seedKcs.length;
  }

  /**
   * Adds the KCs extracted from one seed. Idempotent per seed id: a redelivered seed with the same
   * KCs changes nothing; the same seed id with different KCs is an error (conflicting extractions).
   * Duplicate KC ids inside one seed count once.
   */
  addSeed(seedId: string, kcIds: readonly string[]): AddSeedResult {
    if (typeof seedId !== 'string' || seedId.length === 0) {
      throw new TypeError(`addSeed: seedId must be a non-empty string, got ${JSON.stringify(seedId)}`);
    }
    if (!Array.isArray(kcIds) || kcIds.length === 0) {
      throw new TypeError(`addSeed(${seedId}): kcIds must be a non-empty array of KC ids`);
    }
    for (const id of kcIds) {
      if (typeof id !== 'string' || id.length === 0) {
        throw new TypeError(`addSeed(${seedId}): every KC id must be a non-empty string, got ${JSON.stringify(id)}`);
      }
      if (id.includes(KEY_SEPARATOR)) {
        throw new TypeError(`addSeed(${seedId}): KC id ${JSON.stringify(id)} contains the key separator "${KEY_SEPARATOR}"`);
      }
    }
    const unique = [...new Set(kcIds)].sort();
    const existing = this.seedIndex.get(seedId);
    if (existing !== undefined) {
      const before = Array.from(this.seedKcs[existing], (i) => this.nodeIds[i]).sort();
      if (before.length !== unique.length || before.some((id, i) => id !== unique[i])) {
        throw new Error(
          `addSeed(${seedId}): seed already added with different KCs [${before.join(', ')}] vs [${unique.join(', ')}]`,
        );
      }
      return { added: false, newNodes: 0, newEdges: 0 };
    }

    const seed = this.seedKcs.length;
    let newNodes = 0;
    let newEdges = 0;
    const members = new Int32Array(unique.length);
    unique.forEach((id, i) => {
      let u = this.nodeIndex.get(id);
      if (u === undefined) {
        u = this.nodeIds.length;
        this.nodeIds.push(id);
        this.nodeIndex.set(id, u);
        this.adjacency.push(new Map());
        this.frequency.push(0);
        this.kcSeeds.push([]);
        this.graph.addNode(id, { frequency: 0 });
        newNodes++;
      }
      this.frequency[u]++;
      this.kcSeeds[u].push(seed);
      this.graph.setNodeAttribute(id, 'frequency', this.frequency[u]);
      members[i] = u;
    });
    for (let i = 0; i < members.length; i++) {
      for (let j = i + 1; j < members.length; j++) {
        const u = members[i];
        const v = members[j];
        const w = (this.adjacency[u].get(v) ?? 0) + 1;
        this.adjacency[u].set(v, w);
        this.adjacency[v].set(u, w);
        if (w === 1) {
          this.graph.addEdge(unique[i], unique[j], { weight: 1 });
          this.edgeLog.push(u, v);
          newEdges++;
        } else {
          this.graph.setEdgeAttribute(unique[i], unique[j], 'weight', w);
        }
      }
    }
    members.sort();
    this.seedKcs.push(members);
    this.seedIndex.set(seedId, seed);
    this.seedNames.push(seedId);
    this.versionCounter++;
    this.snapshotCache = null;
    return { added: true, newNodes, newEdges };
  }

  hasSeed(seedId: string): boolean {
    return this.seedIndex.has(seedId);
  }

  /** Index of a KC id, or undefined. Indices are stable for the life of this instance. */
  indexOf(kcId: string): number | undefined {
    return this.nodeIndex.get(kcId);
  }
  idOf(index: number): string {
    const id = this.nodeIds[index];
    if (id === undefined) throw new RangeError(`KcGraph: no node with index ${index}`);
    return id;
  }
  frequencyOf(kcId: string): number {
    const u = this.nodeIndex.get(kcId);
    return u === undefined ? 0 : this.frequency[u];
  }
  /** Co-occurrence count of two KCs (0 if never together). */
  weightOf(a: string, b: string): number {
    const u = this.nodeIndex.get(a);
    const v = this.nodeIndex.get(b);
    if (u === undefined || v === undefined) return 0;
    return this.adjacency[u].get(v) ?? 0;
  }

  /** Seeds (their ids) that contain a KC, in the order they were added. */
  seedsOf(kcId: string): string[] {
    const u = this.nodeIndex.get(kcId);
    return u === undefined ? [] : this.kcSeeds[u].map((s) => this.seedNames[s]);
  }

  /** All seeds as [seedId, sorted KC ids], in insertion order. */
  *seeds(): IterableIterator<[string, string[]]> {
    for (let s = 0; s < this.seedKcs.length; s++) {
      yield [this.seedNames[s], Array.from(this.seedKcs[s], (u) => this.nodeIds[u]).sort()];
    }
  }

  /**
   * True when one seed contains every given KC (by index), i.e. the set is NOT novel.
   * Only the seeds shared by the pair of members that co-occur least can hold them all: it finds that
   * pair from the edge weights (a pair that never co-occurred answers at once) and checks each of its
   * seeds' own short KC lists: O(k² log degree + min pair weight * k * log seed size).
   */
  someSeedContainsAll(indices: readonly number[]): boolean {
    const k = indices.length;
    if (k === 0) return false;
    const s = this.snapshot();
    let bestPosition = -1;
    let bestWeight = Infinity;
    for (let i = 0; i < k; i++) {
      for (let j = i + 1; j < k; j++) {
        const a = indices[i];
        const b = indices[j];
        if (a === b) continue;
        const p = degreeOf(s, a) <= degreeOf(s, b) ? edgePosition(s, a, b) : edgePosition(s, b, a);
        if (p < 0) return false;
        if (s.weights[p] < bestWeight) {
          bestWeight = s.weights[p];
          bestPosition = p;
        }
      }
    }
    if (bestPosition < 0) return this.kcSeeds[indices[0]].length > 0; // one KC, maybe repeated
    const { offsets, seeds } = this.pairSeeds(s);
    for (let q = offsets[bestPosition]; q < offsets[bestPosition + 1]; q++) {
      const members = this.seedKcs[seeds[q]];
      let all = true;
      for (let i = 0; i < k; i++) {
        if (!sortedIncludes(members, indices[i])) {
          all = false;
          break;
        }
      }
      if (all) return true;
    }
    return false;
  }

  /**
   * The seeds of every edge, ascending, aligned with the snapshot's neighbour positions (the seeds of
   * position p are seeds[offsets[p]..offsets[p+1]]; their count is the edge weight). Built on first
   * use for each graph version, from the seeds' KC lists: O(co-occurring pairs * log degree), about
   * 8 bytes per (seed, pair).
   */
  private pairSeeds(s: CsrSnapshot): { offsets: Int32Array; seeds: Int32Array } {
    if (this.pairSeedsCache?.version === s.version) return this.pairSeedsCache;
    const positions = s.neighbors.length;
    const offsets = new Int32Array(positions + 1);
    for (let p = 0; p < positions; p++) offsets[p + 1] = offsets[p] + s.weights[p];
    const seeds = new Int32Array(offsets[positions]);
    const fill = offsets.slice(0, positions);
    for (let seed = 0; seed < this.seedKcs.length; seed++) {
      const members = this.seedKcs[seed];
      for (let i = 0; i < members.length; i++) {
        for (let j = i + 1; j < members.length; j++) {
          seeds[fill[edgePosition(s, members[i], members[j])]++] = seed;
          seeds[fill[edgePosition(s, members[j], members[i])]++] = seed;
        }
      }
    }
    this.pairSeedsCache = { version: s.version, offsets, seeds };
    return this.pairSeedsCache;
  }

  /** Edges created since position `from` of the edge log, as [u0, v0, u1, v1, ...] node indices. */
  edgesSince(from: number): number[] {
    return this.edgeLog.slice(from * 2);
  }

  /** Nodes, edges, seeds, degree distribution, components and the top `hubCount` hubs. */
  stats(hubCount = 10): GraphStats {
    return computeStats(this.snapshot(), this.seedCount, hubCount);
  }

  /** The typed-array mirror of the current graph, cached until the next mutation. */
  snapshot(): CsrSnapshot {
    if (this.snapshotCache === null) {
      this.snapshotCache = buildCsr(this.versionCounter, this.adjacency, this.frequency, this.nodeIds.slice());
    }
    return this.snapshotCache;
  }
}

function sortedIncludes(list: ArrayLike<number>, x: number): boolean {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = list[mid];
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}
