/**
 * The combination sampler: yields each KC combination at most once, across calls, graph updates and
 * restarts (exportState / importState).
 *
 * Per relation it works in three phases:
 *  1. fresh: after the graph changed, the candidates opened by the new edges (2-paths through a new
 *     edge, cliques containing one, new layer-3 targets of hubs, the new explicit pairs) come first;
 *  2. random: seeded random draws (see each source), rejecting what was already yielded;
 *  3. sweep: once random draws stop paying, a lazy systematic enumeration of the relation's
 *     candidates finds what they miss; when it ends the relation is exhausted until the graph
 *     changes. "Stop paying": each fruitless draw adds 1 to the relation's miss count, each success
 *     takes HIT_CREDIT (8) off it (not below 0), and the sweep starts when the count reaches
 *     `missLimit`: after `missLimit` fruitless draws in a row, or once fewer than about 1 draw in 9
 *     succeeds (a nearly drained relation: the sweep is cheaper than the draws that keep missing).
 * Nothing is materialized: memory is the graph's typed-array mirror, per-hub layer caches and the
 * yielded-key set (64-bit hashes, 10.7-21 bytes per combination), not the number of paths explored.
 *
 * Quotas: each slot goes to the relation with the largest deficit share * (total + 1) - count among
 * the relations not exhausted, so the output follows the shares and the others fill in when one
 * runs dry.
 */
import { isAdjacent, type CsrSnapshot } from '../graph/csr.ts';
import type { KcGraph } from '../graph/kc-graph.ts';
import { KEY_SEPARATOR } from '../graph/kc-graph.ts';
import { createRng, type Rng } from '../util/rng.ts';
import { HashSet64 } from './hash-set64.ts';
import { idHash, setHash } from './key-hash.ts';
import { resolveOptions, type ResolvedOptions, type SamplerOptions } from './options.ts';
import { CliqueSource } from './sources/cliques.ts';
import { LouvainSource } from './sources/louvain.ts';
import { OneHopSource } from './sources/one-hop.ts';
import type { RelationSource } from './sources/source.ts';
import { ThreeHopSource } from './sources/three-hop.ts';
import { TwoHopSource } from './sources/two-hop.ts';
import { decodeState, encodeState, type RelationMode } from './state-codec.ts';
import { RELATIONS, type Candidate, type Combination, type Relation } from './types.ts';

/** What one successful random draw takes off a relation's miss count (see the module comment). */
const HIT_CREDIT = 8;

interface RelationState {
  relation: Relation;
  source: RelationSource;
  share: number;
  count: number;
  mode: RelationMode;
  misses: number;
  sweep: Iterator<Candidate> | null;
  /** Fresh items (flat pairs of node indices); the one at freshHead is being enumerated. */
  fresh: number[];
  freshHead: number;
  freshIter: Iterator<Candidate> | null;
}

export interface SamplerStats {
  yielded: number;
  /** Bytes of the yielded-key hash table. */
  yieldedBytes: number;
  perRelation: Record<string, { count: number; mode: RelationMode; pendingFresh: number }>;
}

export interface Sampler {
  /** Up to n combinations never yielded before (fewer when every active relation is exhausted). */
  next(n: number): Combination[];
  exportState(): Uint8Array;
  importState(bytes: Uint8Array): void;
  stats(): SamplerStats;
  /** Current 3-hop hubs (KC ids), strongest first. */
  hubs(): string[];
  /**
   * Records a combination (its KC ids, any order) as already yielded, e.g. one found in the output
   * log after a restart: it will never be yielded again. Returns false if it already was.
   */
  markYielded(kcIds: readonly string[]): boolean;
}

export function createSampler(graph: KcGraph, options: SamplerOptions): Sampler {
  return new CombinationSampler(graph, resolveOptions(options));
}

class CombinationSampler implements Sampler {
  private rng: Rng;
  private yielded = new HashSet64(1 << 16);
  private readonly states: RelationState[] = [];
  private snap!: CsrSnapshot;
  private seenVersion = -1;
  private edgeLogPosition = 0;
  private hashHi = new Uint32Array(0);
  private hashLo = new Uint32Array(0);
  private hashedNodes = 0;
  private readonly hashOut = new Uint32Array(2);
  private readonly threeHop: ThreeHopSource;

  constructor(private readonly graph: KcGraph, private readonly o: ResolvedOptions) {
    this.rng = createRng(o.seed);
    this.threeHop = new ThreeHopSource({ hubCount: o.hubCount, hubFraction: o.hubFraction });
    const sources: Record<Relation, RelationSource> = {
      '1-hop': new OneHopSource(),
      '2-hop': new TwoHopSource(),
      '3-hop': this.threeHop,
      community: new CliqueSource(o.fourCliqueShare),
      louvain: new LouvainSource(graph, {
        seed: (o.seed ^ 0x4c6f7576) | 0,
        resolution: o.louvainResolution,
        tripleShare: o.louvainTripleShare,
        refreshRatio: o.louvainRefreshRatio,
      }),
    };
    for (const relation of RELATIONS) {
      const share = o.shares.get(relation) ?? 0;
      // 1-hop pairs co-occurred in a seed, so they are never novel.
      if (share === 0 || (o.novelOnly && relation === '1-hop')) continue;
      this.states.push({
        relation, source: sources[relation], share, count: 0, mode: 'random', misses: 0,
        sweep: null, fresh: [], freshHead: 0, freshIter: null,
      });
    }
  }

  next(n: number): Combination[] {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`sampler.next: n must be a non-negative integer, got ${String(n)}`);
    this.sync();
    const out: Combination[] = [];
    while (out.length < n) {
      const st = this.pickRelation();
      if (!st) break;
      const c = this.produce(st);
      if (c) {
        st.count++;
        out.push(c);
      }
    }
    return out;
  }

  markYielded(kcIds: readonly string[]): boolean {
    const ids = [...new Set(kcIds)];
    if (ids.length === 0 || ids.length > 8) throw new RangeError(`markYielded: expected 1-8 KC ids, got ${ids.length}`);
    const hi = new Uint32Array(ids.length);
    const lo = new Uint32Array(ids.length);
    ids.forEach((id, i) => ([hi[i], lo[i]] = idHash(id)));
    const out = new Uint32Array(2);
    setHash(ids.map((_, i) => i), hi, lo, out);
    if (this.yielded.has(out[0], out[1])) return false;
    this.yielded.add(out[0], out[1]);
    return true;
  }

  hubs(): string[] {
    this.sync();
    if (!this.states.some((s) => s.relation === '3-hop')) this.threeHop.prepare(this.snap, []);
    return this.threeHop.hubs.map((u) => this.snap.ids[u]);
  }

  stats(): SamplerStats {
    const perRelation: SamplerStats['perRelation'] = {};
    for (const st of this.states) {
      perRelation[st.relation] = { count: st.count, mode: st.mode, pendingFresh: (st.fresh.length - st.freshHead) / 2 };
    }
    return { yielded: this.yielded.size, yieldedBytes: this.yielded.bytes, perRelation };
  }

  exportState(): Uint8Array {
    this.sync();
    return encodeState({
      rng: this.rng.state(),
      relations: RELATIONS.map((relation) => {
        const st = this.states.find((s) => s.relation === relation);
        const fresh: [string, string][] = [];
        if (st) {
          for (let i = st.freshHead; i < st.fresh.length; i += 2) fresh.push([this.snap.ids[st.fresh[i]], this.snap.ids[st.fresh[i + 1]]]);
        }
        return { relation, count: st?.count ?? 0, mode: st?.mode ?? 'random', misses: st?.misses ?? 0, fresh };
      }),
      yielded: this.yielded.sorted(),
    });
  }

  /**
   * Restores progress saved by exportState. Into a sampler with the same options on the same graph
   * it continues exactly as the exporting one would; with other options (seed, quotas) or on a
   * restored graph (canonical node order) the order differs, but nothing is ever repeated.
   */
  importState(bytes: Uint8Array): void {
    const state = decodeState(bytes);
    this.sync();
    this.rng = createRng(state.rng);
    const restored = new HashSet64(state.yielded.length);
    for (const h of state.yielded) restored.add(Number(h >> 32n), Number(h & 0xffffffffn));
    this.yielded = restored;
    for (const st of this.states) {
      const saved = state.relations.find((r) => r.relation === st.relation);
      st.count = saved?.count ?? 0;
      st.mode = saved?.mode ?? 'random';
      st.misses = saved?.misses ?? 0;
      st.sweep = null;
      st.freshIter = null;
      st.freshHead = 0;
      st.fresh = [];
      for (const [a, b] of saved?.fresh ?? []) {
        const u = this.graph.indexOf(a);
        const v = this.graph.indexOf(b);
        if (u !== undefined && v !== undefined) st.fresh.push(u, v);
      }
    }
  }

  /** Catches up with graph changes: new snapshot, sources re-prepared, fresh items queued. */
  private sync(): void {
    if (this.graph.version === this.seenVersion) return;
    const first = this.seenVersion === -1;
    this.snap = this.graph.snapshot();
    this.hashNewNodes();
    const newEdges = first ? [] : this.graph.edgesSince(this.edgeLogPosition);
    this.edgeLogPosition = this.graph.edgeCount;
    for (const st of this.states) {
      const items = st.source.prepare(this.snap, newEdges);
      if (!first) {
        st.fresh = st.fresh.slice(st.freshHead).concat(items);
        st.freshHead = 0;
      }
      st.freshIter = null;
      st.sweep = null;
      st.mode = 'random';
      st.misses = 0;
    }
    this.seenVersion = this.graph.version;
  }

  private hashNewNodes(): void {
    const n = this.snap.n;
    if (n > this.hashHi.length) {
      const cap = Math.max(n, this.hashHi.length * 2);
      const hi = new Uint32Array(cap);
      const lo = new Uint32Array(cap);
      hi.set(this.hashHi);
      lo.set(this.hashLo);
      this.hashHi = hi;
      this.hashLo = lo;
    }
    for (let u = this.hashedNodes; u < n; u++) [this.hashHi[u], this.hashLo[u]] = idHash(this.snap.ids[u]);
    this.hashedNodes = n;
  }

  private pickRelation(): RelationState | null {
    let total = 0;
    for (const st of this.states) total += st.count;
    let best: RelationState | null = null;
    let bestDeficit = -Infinity;
    for (const st of this.states) {
      if (st.mode === 'exhausted' && st.freshHead >= st.fresh.length) continue;
      const deficit = st.share * (total + 1) - st.count;
      if (deficit > bestDeficit) {
        bestDeficit = deficit;
        best = st;
      }
    }
    return best;
  }

  private produce(st: RelationState): Combination | null {
    while (st.freshHead < st.fresh.length) {
      st.freshIter ??= st.source.freshFor(st.fresh[st.freshHead], st.fresh[st.freshHead + 1]);
      for (let it = st.freshIter.next(); !it.done; it = st.freshIter.next()) {
        const c = this.accept(st.relation, it.value);
        if (c) return c;
      }
      st.freshIter = null;
      st.freshHead += 2;
    }
    if (st.fresh.length > 0) {
      st.fresh = [];
      st.freshHead = 0;
    }
    if (st.mode === 'random') {
      while (st.misses < this.o.missLimit) {
        const candidate = st.source.draw(this.rng);
        const c = candidate && this.accept(st.relation, candidate);
        if (c) {
          st.misses = st.misses > HIT_CREDIT ? st.misses - HIT_CREDIT : 0;
          return c;
        }
        st.misses++;
      }
      st.mode = 'sweep';
    }
    if (st.mode === 'sweep') {
      st.sweep ??= st.source.sweep();
      for (let it = st.sweep.next(); !it.done; it = st.sweep.next()) {
        const c = this.accept(st.relation, it.value);
        if (c) return c;
      }
      st.sweep = null;
      st.mode = 'exhausted';
    }
    return null;
  }

  /** Threshold, already-yielded and novelty checks; builds strings only for what is emitted. */
  private accept(relation: Relation, c: Candidate): Combination | null {
    if (relation !== '1-hop' && c.weight < this.o.minWeight) return null;
    setHash(c.members, this.hashHi, this.hashLo, this.hashOut);
    if (this.yielded.has(this.hashOut[0], this.hashOut[1])) return null;
    const m = c.members;
    // hop > 1: some pair of members is not adjacent (checked on this snapshot by the source), so no
    // seed holds them all. Otherwise a pair is adjacent (1-hop); a clique needs the seed index.
    const novel = c.hop > 1 || (m.length === 2 ? !isAdjacent(this.snap, m[0], m[1]) : !this.graph.someSeedContainsAll(m));
    if (this.o.novelOnly && !novel) return null;
    this.yielded.add(this.hashOut[0], this.hashOut[1]);
    const ids = this.snap.ids;
    const kcIds = sortedIds(m, ids);
    const key = kcIds.length === 2 ? kcIds[0] + KEY_SEPARATOR + kcIds[1] : kcIds.join(KEY_SEPARATOR);
    // A clique or a Louvain group has no order: its witness is the sorted member list.
    if (relation === 'louvain') return new ExtensionResult(key, kcIds, relation, c.hop, kcIds, c.weight, novel, c.community as number);
    return new Result(key, kcIds, relation, c.hop, relation === 'community' ? kcIds : idsOf(c.path, ids), c.weight, novel);
  }
}

/*
 * Results are built as class instances and their arrays as copies of a template (slice), not as
 * object and array literals. V8 pretenures a literal whose allocation site sees its objects survive
 * a scavenge, and a caller holding a batch of results (bench:core takes 10K at a time) makes every
 * site survive: from then on each result is allocated straight into the old generation, where it
 * dies. Measured at 10M combinations on the 100K-KC graph: about twice the peak RSS (1.05-1.1 GB vs
 * 0.55 GB) and 10-15% more CPU. slice() allocates without an allocation site, exactly the length
 * (an array grown by push keeps 17 slots), and ten times faster than Array.of. Instances have the
 * same own properties, in the same order, as the literals had.
 */

/** A combination of a paper relation. */
class Result implements Combination {
  key: string;
  kcIds: string[];
  relation: Relation;
  hop: number;
  path: string[];
  weight: number;
  novel: boolean;
  constructor(key: string, kcIds: string[], relation: Relation, hop: number, path: string[], weight: number, novel: boolean) {
    this.key = key;
    this.kcIds = kcIds;
    this.relation = relation;
    this.hop = hop;
    this.path = path;
    this.weight = weight;
    this.novel = novel;
  }
}

/** A combination of an extension relation (louvain): `extension: true` and its community. */
class ExtensionResult implements Combination {
  key: string;
  kcIds: string[];
  relation: Relation;
  hop: number;
  path: string[];
  weight: number;
  novel: boolean;
  extension: true;
  community: number;
  constructor(key: string, kcIds: string[], relation: Relation, hop: number, path: string[], weight: number, novel: boolean, community: number) {
    this.key = key;
    this.kcIds = kcIds;
    this.relation = relation;
    this.hop = hop;
    this.path = path;
    this.weight = weight;
    this.novel = novel;
    this.extension = true;
    this.community = community;
  }
}

/** The members' KC ids in ascending string order (what Array.prototype.sort gives), without a comparator call per pair. */
function sortedIds(m: readonly number[], ids: readonly string[]): string[] {
  if (m.length === 2) {
    const a = ids[m[0]];
    const b = ids[m[1]];
    return a < b ? pair(a, b) : pair(b, a);
  }
  const out = idsOf(m, ids);
  for (let i = 1; i < out.length; i++) {
    const x = out[i];
    let j = i - 1;
    while (j >= 0 && out[j] > x) {
      out[j + 1] = out[j];
      j--;
    }
    out[j + 1] = x;
  }
  return out;
}

/** KC ids of node indices, in an array of exactly that length (made by slice: see above). */
function idsOf(path: readonly number[], ids: readonly string[]): string[] {
  switch (path.length) {
    case 2:
      return pair(ids[path[0]], ids[path[1]]);
    case 3: {
      const out = TEMPLATE3.slice();
      out[0] = ids[path[0]];
      out[1] = ids[path[1]];
      out[2] = ids[path[2]];
      return out;
    }
    case 4: {
      const out = TEMPLATE4.slice();
      out[0] = ids[path[0]];
      out[1] = ids[path[1]];
      out[2] = ids[path[2]];
      out[3] = ids[path[3]];
      return out;
    }
    default:
      return path.map((u) => ids[u]);
  }
}

/** Copied, never handed out. */
const TEMPLATE2: readonly string[] = ['', ''];
const TEMPLATE3: readonly string[] = ['', '', ''];
const TEMPLATE4: readonly string[] = ['', '', '', ''];

function pair(a: string, b: string): string[] {
  const out = TEMPLATE2.slice();
  out[0] = a;
  out[1] = b;
  return out;
}
