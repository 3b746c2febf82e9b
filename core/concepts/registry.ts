/**
 * The KC registry: merges each new key concept into an existing cluster or founds a new one.
 *
 * Decision for a new name (paper, section 2 of grip-method.md), in order:
 *  1. Its normalized name (normalizeKcName) is already known: same KC ('exact'); no embedding, no model call.
 *  2. Cosine with the best cluster >= sameThreshold (0.90, INCLUSIVE): same KC ('embedding').
 *  3. Clusters with sameThreshold > cosine >= synonymThreshold (0.70, INCLUSIVE) are asked to the injected
 *     synonym check in descending cosine, at most maxSynonymChecks of them; the first yes merges ('synonym').
 *  4. Otherwise (every cosine < 0.70, or all checks said no): a new KC ('new').
 * Comparisons allow COSINE_EPSILON (1e-6) for float32 rounding: a cosine of 0.8999996 counts as 0.90.
 * Without a synonym check the band counts as distinct (the paper's "embedding-only" ablation).
 *
 * Each cluster is searched through the vector of its founding name only. Indexing aliases too would make
 * clustering single-linkage, letting a cluster drift one synonym at a time far from its first meaning.
 *
 * Ids: `kc-` + shortHash(normalized founding name). They never change: later names only become aliases,
 * and a better representative name proposed by the synonym check changes the display name, not the id.
 * A hash-prefix collision between two different names is resolved deterministically (in insertion order)
 * by rehashing with a counter suffix; restored registries carry their ids verbatim.
 *
 * Adds are serialized internally (one at a time, in call order), so concurrent callers get the same
 * result as sequential ones.
 */
import { shortHash } from '../util/hash.ts';
import { normalizeKcName } from './normalize.ts';
import { COSINE_EPSILON, toUnitVector, VectorStore, type SearchMode } from './vector-store.ts';

export type SynonymVerdict = boolean | { same: boolean; representative?: string };
export type SynonymCheck = (candidate: { name: string }, existing: { id: string; name: string }) => Promise<SynonymVerdict>;
/** Embeds names in one batch; one vector per name, same order. */
export type EmbedFn = (names: string[]) => Promise<ArrayLike<number>[]>;

export interface KcRegistryOptions {
  /** Cosine at or above which two KCs are the same (inclusive). Default 0.90. */
  sameThreshold?: number;
  /** Cosine at or above which (inclusive) and below sameThreshold the synonym check decides. Default 0.70. */
  synonymThreshold?: number;
  synonymCheck?: SynonymCheck;
  /** Used when an add brings no embedding of its own. */
  embed?: EmbedFn;
  /** Most band candidates asked per add. Default 5. */
  maxSynonymChecks?: number;
  /** 'simhash' (default; approximate recall, exact similarities) or 'exact'. See vector-store.ts. */
  search?: SearchMode;
  simhashBits?: number;
  simhashZ?: number;
  /** Seed of the SimHash hyperplanes. */
  seed?: number;
  /** Hex characters of the id hash. Default 12. */
  idHashLength?: number;
}

export interface KcAddInput {
  name: string;
  embedding?: ArrayLike<number>;
}

/** What `decide` found for one name; plain data, so it can travel through a log. */
export interface KcDecision {
  name: string;
  /** normalizeKcName(name). */
  key: string;
  /** Unit vector of the name; null when its key was already known (an exact alias needs none). */
  unit: Float32Array | null;
  /** Synonym-check answers, in the order asked (descending cosine). */
  asked: Array<{ id: string; same: boolean; representative: string | null }>;
}

export type KcOutcome = 'exact' | 'embedding' | 'synonym' | 'new';

export interface KcAddResult {
  id: string;
  outcome: KcOutcome;
  /** Cosine with the matched cluster (1 for exact); for 'new', the best cosine seen, or null if none >= synonymThreshold. */
  similarity: number | null;
  /** Synonym-check calls this add made. */
  calls: number;
  representative: string;
}

export interface KcCluster {
  id: string;
  representative: string;
  /** Original spellings, founding name first. */
  names: string[];
  /** Normalized keys of `names` (distinct). */
  keys: string[];
}

export interface KcRegistryState {
  format: 'grip.kc-registry.v1';
  dim: number | null;
  clusters: KcCluster[];
  /** Founding unit vectors, cluster order, float32 little-endian, base64. */
  vectors: string;
}

/** See KcRegistry.applySettings. */
export interface KcApplySettings {
  sameThreshold: number;
  synonymThreshold: number;
  maxSynonymChecks: number;
  search: SearchMode;
  simhashBits: number;
  simhashZ: number;
  seed: number;
  idHashLength: number;
}

/** `name: ours vs theirs` for every apply setting that differs (empty: the same). */
export function applySettingsDifferences(ours: KcApplySettings, theirs: Partial<KcApplySettings>): string[] {
  return (Object.keys(ours) as Array<keyof KcApplySettings>)
    .filter((k) => ours[k] !== theirs[k])
    .map((k) => `${k}: ${JSON.stringify(ours[k])} here vs ${JSON.stringify(theirs[k])} in the log`);
}

interface ResolvedOptions extends KcApplySettings {
  synonymCheck?: SynonymCheck;
  embed?: EmbedFn;
}

function resolveOptions(o: KcRegistryOptions): ResolvedOptions {
  const r: ResolvedOptions = {
    sameThreshold: o.sameThreshold ?? 0.9,
    synonymThreshold: o.synonymThreshold ?? 0.7,
    synonymCheck: o.synonymCheck,
    embed: o.embed,
    maxSynonymChecks: o.maxSynonymChecks ?? 5,
    search: o.search ?? 'simhash',
    simhashBits: o.simhashBits ?? 256,
    simhashZ: o.simhashZ ?? 3,
    seed: o.seed ?? 1,
    idHashLength: o.idHashLength ?? 12,
  };
  const inUnit = (x: number) => Number.isFinite(x) && x >= -1 && x <= 1;
  if (!inUnit(r.sameThreshold) || !inUnit(r.synonymThreshold) || r.synonymThreshold > r.sameThreshold) {
    throw new RangeError(
      `thresholds must satisfy -1 <= synonymThreshold <= sameThreshold <= 1, got ${r.synonymThreshold} and ${r.sameThreshold}`,
    );
  }
  if (!Number.isInteger(r.maxSynonymChecks) || r.maxSynonymChecks < 0) {
    throw new RangeError(`maxSynonymChecks must be a non-negative integer, got ${r.maxSynonymChecks}`);
  }
  if (r.search !== 'exact' && r.search !== 'simhash') throw new RangeError(`search must be 'exact' or 'simhash', got ${r.search}`);
  if (!Number.isInteger(r.idHashLength) || r.idHashLength < 1 || r.idHashLength > 64) {
    throw new RangeError(`idHashLength must be 1..64, got ${r.idHashLength}`);
  }
  return r;
}

export class KcRegistry {
  private readonly opts: ResolvedOptions;
  private readonly clusters: KcCluster[] = [];
  private readonly byKey = new Map<string, number>();
  private readonly byId = new Map<string, number>();
  private store: VectorStore | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private counters = { synonymCalls: 0, embedCalls: 0 };

  constructor(options: KcRegistryOptions = {}) {
    this.opts = resolveOptions(options);
  }

  get size(): number {
    return this.clusters.length;
  }

  get dim(): number | null {
    return this.store?.dim ?? null;
  }

  stats() {
    return { clusters: this.clusters.length, names: this.byKey.size, ...this.counters };
  }

  get(id: string): KcCluster | undefined {
    const i = this.byId.get(id);
    return i === undefined ? undefined : cloneCluster(this.clusters[i]);
  }

  /** Id of the cluster a name belongs to by its normalized spelling (no embedding lookup). */
  idOf(name: string): string | undefined {
    const i = this.byKey.get(normalizeKcName(name));
    return i === undefined ? undefined : this.clusters[i].id;
  }

  *all(): IterableIterator<KcCluster> {
    for (const c of this.clusters) yield cloneCluster(c);
  }

  /** Nearest clusters to a vector with cosine >= synonymThreshold (for benchmarks and diagnostics). */
  nearest(embedding: ArrayLike<number>, k: number, mode?: SearchMode): { id: string; similarity: number }[] {
    if (!this.store) return [];
    const unit = toUnitVector(embedding, this.store.dim);
    return this.store.search(unit, k, mode).map((n) => ({ id: this.clusters[n.row].id, similarity: n.similarity }));
  }

  add(input: KcAddInput): Promise<KcAddResult> {
    return this.exclusive(() => this.addNow(input));
  }

  /** Adds in order; embeds every name that needs it in one `embed` call. */
  addMany(inputs: KcAddInput[]): Promise<KcAddResult[]> {
    return this.exclusive(async () => {
      const seen = new Set(this.byKey.keys());
      const toEmbed: number[] = [];
      inputs.forEach((input, i) => {
        const key = normalizeKcName(checkName(input));
        if (!seen.has(key) && input.embedding === undefined) toEmbed.push(i);
        seen.add(key);
      });
      const vectors = toEmbed.length ? await this.embed(toEmbed.map((i) => inputs[i].name)) : [];
      const withVectors = inputs.slice();
      toEmbed.forEach((i, j) => (withVectors[i] = { name: inputs[i].name, embedding: vectors[j] }));
      const results: KcAddResult[] = [];
      for (const input of withVectors) results.push(await this.addNow(input));
      return results;
    });
  }

  /**
   * The options `apply` depends on besides the decision: replicas that apply one log must share
   * them, or the same entries give other clusters and ids (SharedKcRegistry checks them against
   * the log). The synonym check and embed function are not here: they only feed `decide`.
   */
  applySettings(): KcApplySettings {
    const { sameThreshold, synonymThreshold, maxSynonymChecks, search, simhashBits, simhashZ, seed, idHashLength } = this.opts;
    return { sameThreshold, synonymThreshold, maxSynonymChecks, search, simhashBits, simhashZ, seed, idHashLength };
  }

  /** Ids of every cluster, in founding order. */
  ids(): string[] {
    return this.clusters.map((c) => c.id);
  }

  exportState(): KcRegistryState {
    const dim = this.store?.dim ?? null;
    const bytes = new Float32Array(dim === null ? 0 : this.clusters.length * dim);
    if (this.store) for (let i = 0; i < this.clusters.length; i++) bytes.set(this.store.vector(i), i * this.store.dim);
    return {
      format: 'grip.kc-registry.v1',
      dim,
      clusters: this.clusters.map(cloneCluster),
      vectors: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
    };
  }

  static restore(state: KcRegistryState, options: KcRegistryOptions = {}): KcRegistry {
    if (!state || state.format !== 'grip.kc-registry.v1') throw new Error(`KcRegistry.restore: unknown state format ${state?.format}`);
    return KcRegistry.fromParts(state.dim, state.clusters, Buffer.from(state.vectors, 'base64'), options);
  }

  /** The state as binary sections (clusters as JSON, vectors raw): what a checkpoint stores. */
  exportSections(): Record<string, Uint8Array> {
    const dim = this.store?.dim ?? null;
    const bytes = new Float32Array(dim === null ? 0 : this.clusters.length * dim);
    if (this.store) for (let i = 0; i < this.clusters.length; i++) bytes.set(this.store.vector(i), i * this.store.dim);
    return {
      'registry.clusters': Buffer.from(JSON.stringify({ format: 'grip.kc-registry.v1', dim, clusters: this.clusters }), 'utf8'),
      'registry.vectors': new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    };
  }

  /** Fills this registry, which must be empty, with what exportSections wrote; throws when a section is damaged. */
  loadSections(sections: Record<string, Uint8Array>): void {
    if (this.clusters.length > 0) throw new Error('KcRegistry.loadSections: the registry is not empty');
    const clusters = sections['registry.clusters'];
    const vectors = sections['registry.vectors'];
    if (!clusters || !vectors) throw new Error('KcRegistry.loadSections: a section is missing');
    const head = JSON.parse(Buffer.from(clusters).toString('utf8')) as Omit<KcRegistryState, 'vectors'>;
    if (head.format !== 'grip.kc-registry.v1') throw new Error(`KcRegistry.loadSections: unknown state format ${head.format}`);
    KcRegistry.fill(this, head.dim, head.clusters, vectors);
  }

  private static fromParts(dim: number | null, clusters: KcCluster[], raw: Uint8Array, options: KcRegistryOptions): KcRegistry {
    return KcRegistry.fill(new KcRegistry(options), dim, clusters, raw);
  }

  private static fill(reg: KcRegistry, dim: number | null, clusters: KcCluster[], raw: Uint8Array): KcRegistry {
    const expected = dim === null ? 0 : clusters.length * dim * 4;
    if (raw.byteLength !== expected) {
      throw new Error(`KcRegistry.restore: vectors hold ${raw.byteLength} bytes, expected ${expected} for ${clusters.length} clusters`);
    }
    const floats = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    clusters.forEach((c, i) => {
      const unit = floats.subarray(i * dim!, (i + 1) * dim!);
      reg.insertCluster(cloneCluster(c), dim === null ? null : new Float32Array(unit));
    });
    return reg;
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async embed(names: string[]): Promise<ArrayLike<number>[]> {
    if (!this.opts.embed) throw new Error(`KC registry: no embedding given for ${JSON.stringify(names[0])} and no embed function configured`);
    this.counters.embedCalls++;
    const vectors = await this.opts.embed(names);
    if (!Array.isArray(vectors) || vectors.length !== names.length) {
      throw new Error(`KC registry: embed returned ${Array.isArray(vectors) ? vectors.length : typeof vectors} vectors for ${names.length} names`);
    }
    return vectors;
  }

  private async addNow(input: KcAddInput): Promise<KcAddResult> {
    return this.apply(await this.decide(input));
  }

  /**
   * The first half of an add, without changing the registry: the name's normalized key, its unit
   * vector, and the synonym check's answer for every cluster it asked. `apply` turns a decision into
   * the outcome deterministically, from the decision alone. The split lets several processes share
   * one registry through a log (services/concept-extractor/shared-registry.ts): each decides, appends
   * its decision, and every process applies the log in the same order, reaching the same state.
   */
  async decide(input: KcAddInput): Promise<KcDecision> {
    const name = checkName(input);
    const key = normalizeKcName(name);
    if (key === '') throw new RangeError(`KC name ${JSON.stringify(name)} is empty after normalization`);
    if (this.byKey.has(key)) return { name, key, unit: null, asked: [] };
    const embedding = input.embedding ?? (await this.embed([name]))[0];
    const dim = this.store?.dim ?? embedding?.length;
    const unit = toUnitVector(embedding, dim ?? 0, `embedding of ${JSON.stringify(name)}`);
    const asked: KcDecision['asked'] = [];
    const { sameThreshold, synonymThreshold, synonymCheck, maxSynonymChecks } = this.opts;
    const neighbors = this.store ? this.store.search(unit, Math.max(1, maxSynonymChecks)) : [];
    const best = neighbors[0];
    if (synonymCheck && !(best && best.similarity >= sameThreshold - COSINE_EPSILON)) {
      for (const n of neighbors) {
        if (asked.length >= maxSynonymChecks || n.similarity < synonymThreshold - COSINE_EPSILON) break;
        const cluster = this.clusters[n.row];
        this.counters.synonymCalls++;
        const verdict = parseVerdict(await synonymCheck({ name }, { id: cluster.id, name: cluster.representative }));
        const representative = verdict.representative?.trim() ? verdict.representative.trim() : null;
        asked.push({ id: cluster.id, same: verdict.same, representative });
        if (verdict.same) break;
      }
    }
    return { name, key, unit, asked };
  }

  /**
   * The second half of an add: applies a decision (made here or by another process) to the
   * registry. Deterministic given the registry's state: a name whose key is known by now is an alias
   * ('exact'); a cluster at or above sameThreshold absorbs it ('embedding'); band clusters are merged
   * only if the decision holds a 'same' answer for them, a cluster the decision did not ask about
   * (founded meanwhile by another process) counting as not the same; otherwise a new KC.
   */
  apply(decision: KcDecision): KcAddResult {
    const { name, key, unit, asked } = decision;
    const known = this.byKey.get(key);
    if (known !== undefined) {
      this.addAlias(known, name, key);
      return this.result(known, 'exact', 1, 0);
    }
    if (!unit) throw new Error(`KC registry: decision for ${JSON.stringify(name)} has no vector, but its key is unknown here`);
    if (!this.store) this.store = this.newStore(unit.length);
    if (unit.length !== this.store.dim) throw new RangeError(`embedding of ${JSON.stringify(name)} has ${unit.length} dimensions, the registry ${this.store.dim}`);
    const { sameThreshold, synonymThreshold, maxSynonymChecks } = this.opts;
    const neighbors = this.store.search(unit, Math.max(1, maxSynonymChecks));
    const best = neighbors[0];
    if (best && best.similarity >= sameThreshold - COSINE_EPSILON) {
      this.addAlias(best.row, name, key);
      return this.result(best.row, 'embedding', best.similarity, 0);
    }
    const answers = new Map(asked.map((a) => [a.id, a]));
    let considered = 0;
    for (const n of neighbors) {
      if (considered >= maxSynonymChecks || n.similarity < synonymThreshold - COSINE_EPSILON) break;
      considered++;
      const cluster = this.clusters[n.row];
      const answer = answers.get(cluster.id);
      if (answer?.same) {
        this.addAlias(n.row, name, key);
        if (answer.representative) cluster.representative = answer.representative;
        return this.result(n.row, 'synonym', n.similarity, asked.length);
      }
    }
    const index = this.insertCluster({ id: this.newId(key), representative: name, names: [name], keys: [key] }, unit);
    return this.result(index, 'new', best ? best.similarity : null, asked.length);
  }

  private newStore(dim: number): VectorStore {
    const o = this.opts;
    return new VectorStore({ dim, mode: o.search, minCosine: o.synonymThreshold, simhashBits: o.simhashBits, simhashZ: o.simhashZ, seed: o.seed });
  }

  private insertCluster(cluster: KcCluster, unit: Float32Array | null): number {
    if (this.byId.has(cluster.id)) throw new Error(`duplicate KC id ${cluster.id}`);
    const index = this.clusters.length;
    if (unit) {
      if (!this.store) this.store = this.newStore(unit.length);
      const row = this.store.add(unit);
      if (row !== index) throw new Error(`KC registry: vector row ${row} out of step with cluster ${index}`);
    }
    this.clusters.push(cluster);
    this.byId.set(cluster.id, index);
    for (const key of cluster.keys) this.byKey.set(key, index);
    return index;
  }

  private newId(key: string): string {
    const len = this.opts.idHashLength;
    let id = `kc-${shortHash(key, len)}`;
    // Rehash with a counter; lengthen the hash every 4 tries so that even a tiny id space cannot loop forever.
    for (let n = 1; this.byId.has(id); n++) id = `kc-${shortHash(`${key}\u0000${n}`, Math.min(64, len + (n >> 2)))}`;
    return id;
  }

  private addAlias(index: number, name: string, key: string): void {
    const c = this.clusters[index];
    if (!c.names.includes(name)) c.names.push(name);
    if (!this.byKey.has(key)) {
      c.keys.push(key);
      this.byKey.set(key, index);
    }
  }

  private result(index: number, outcome: KcOutcome, similarity: number | null, calls: number): KcAddResult {
    const c = this.clusters[index];
    return { id: c.id, outcome, similarity, calls, representative: c.representative };
  }
}

function checkName(input: KcAddInput): string {
  if (!input || typeof input.name !== 'string' || input.name.trim() === '') {
    throw new TypeError(`KC add: expected { name: non-empty string }, got ${JSON.stringify(input)}`);
  }
  return input.name;
}

function parseVerdict(v: SynonymVerdict): { same: boolean; representative?: string } {
  if (typeof v === 'boolean') return { same: v };
  if (v && typeof v === 'object' && typeof v.same === 'boolean') {
    if (v.representative !== undefined && typeof v.representative !== 'string') {
      throw new TypeError(`synonym check: representative must be a string, got ${typeof v.representative}`);
    }
    return v;
  }
  throw new TypeError(`synonym check: expected a boolean or { same: boolean }, got ${JSON.stringify(v)}`);
}

function cloneCluster(c: KcCluster): KcCluster {
  return { id: c.id, representative: c.representative, names: [...c.names], keys: [...c.keys] };
}

export function createKcRegistry(options: KcRegistryOptions = {}): KcRegistry {
  return new KcRegistry(options);
}
