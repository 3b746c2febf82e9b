/**
 * The KC registry shared by every concept-extractor instance, through the log `grip.kc-registry`.
 *
 * Why a log: the registry must survive restarts and give every instance the same KC ids for the
 * same concepts. Each instance keeps the whole registry in memory as a fold over the log: it reads
 * the log from the start when it starts, then follows it. To add a name it is not sure of, an
 * instance DECIDES against its current view (embedding search plus the LLM synonym check, the
 * expensive part, done concurrently by many instances), APPENDS the decision to the log, and takes
 * its answer from APPLYING the log in order once it reads its own entry back. The log has one
 * partition, so every instance applies the same entries in the same order and reaches the same
 * registry (KcRegistry.apply is deterministic given the decision). Two instances that decide about
 * near-synonyms at the same moment are reconciled by the order: a name at or above the merge
 * threshold of a cluster founded just before it joins that cluster; a synonym-band answer about a
 * cluster the proposer had not seen counts as "not the same" (a possible near-duplicate KC, never a
 * wrong merge). With one instance there are no such races and the result equals the in-process
 * registry of `grip run`.
 *
 * Names already known by their spelling need no entry: every instance resolves them alike.
 *
 * `apply` also depends on the registry's own options (thresholds, search mode, SimHash seed...),
 * which are per instance. So every entry carries its proposer's (`registry_settings`), and the
 * first entry of an embeddings model fixes them for the log: an instance with other settings
 * refuses to start (RegistrySettingsError names each differing setting), and an entry with other
 * settings (two instances started on an empty log at once) is skipped by every replica alike.
 */
import fs from 'node:fs';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { applySettingsDifferences, type KcAddInput, type KcAddResult, type KcApplySettings, type KcDecision, type KcRegistry } from '../../core/concepts/index.ts';
import { canonicalJson, shortHash } from '../../core/util/hash.ts';
import { Checkpointer, checkpointFile, PositionTracker, readCheckpoint, type Positions } from '../runtime/checkpoint.ts';
import type { KcRegistryEntry } from '../../schemas/generated/types.ts';
import { ConfigurationError } from '../runtime/errors.ts';
import { readLog, RetriableError, type KafkaTransport, type LogReader, type ProducerPort, type Serde } from '../runtime/kafka/index.ts';

export const KC_REGISTRY_TOPIC = 'grip.kc-registry';

export interface SharedKcRegistryDeps {
  transport: KafkaTransport;
  serde: Serde;
  producer: ProducerPort;
  embeddingsModel: string;
  /** Batch embedding of names (the registry's own `embed` is used for single names). */
  embed: (names: string[]) => Promise<ArrayLike<number>[]>;
  now?: () => number;
  /** How long an add waits to read its own entry back before it fails (retriable). Default 60 s. */
  readBackTimeoutMs?: number;
  /** The log; default grip.kc-registry (tests use a topic of their own with its schema). */
  topic?: string;
  /** Where an entry refused while reading the log, and the checkpoints, are reported. */
  log?: (level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>) => void;
  /**
   * A checkpoint of the registry and the log position it covers (the service's state directory):
   * a start reads it and the entries after it. The registry changes only by applying the log, so
   * any moment between two entries is exact. Absent: the log is read from its first entry.
   */
  checkpoints?: { dir: string; everyRecords?: number; everyMs?: number };
}

/** Layout of the registry checkpoint's sections (bump when it changes: older files are ignored). */
export const REGISTRY_STATE_FORMAT = 'kc-registry-state.v1';

/** This instance's registry settings differ from those the log was written with. */
export class RegistrySettingsError extends Error {
  constructor(
    readonly differences: string[],
    embeddingsModel: string,
    topic = KC_REGISTRY_TOPIC,
  ) {
    super(
      `KC registry: this instance's settings differ from those ${topic} was written with (embeddings model ${embeddingsModel}), ` +
        `so its ids would diverge from the other instances': ${differences.join('; ')}. ` +
        'Run it with the settings of the log (kc_merge, seed), or start a new registry with another embeddings model.',
    );
    this.name = 'RegistrySettingsError';
  }
}

export class SharedKcRegistry {
  private reader: LogReader | undefined;
  private readonly waiting = new Map<string, { resolve: (result: KcAddResult) => void; reject: (error: Error) => void }>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly proposer = `${os.hostname()}:${process.pid}`;
  private applied = 0;
  /** Entries of another embeddings model. */
  skipped = 0;
  /** Entries whose settings differ from the log's first entry (skipped by every replica). */
  skippedOtherSettings = 0;
  /**
   * Entries whose vector has another dimension than the registry's (the same model name served by
   * another server): refused by every replica alike, each reported with both dimensions.
   */
  skippedOtherDimension = 0;
  /** The settings this instance writes and requires. */
  private readonly settings: string;
  /** The settings of the log (its first entry of this embeddings model that has any). */
  private logSettings: string | undefined;

  constructor(
    readonly registry: KcRegistry,
    private readonly deps: SharedKcRegistryDeps,
  ) {
    this.settings = canonicalJson(registry.applySettings());
  }

  private get topic(): string {
    return this.deps.topic ?? KC_REGISTRY_TOPIC;
  }

  /** Entries read at start (after the checkpoint, if one was used). */
  entriesRead = 0;
  /** The checkpoint the registry was restored from, if any. */
  restoredFrom: { entries: number; bytes: number } | undefined;

  /** Rebuilds the registry from its checkpoint and the log after it (or the whole log), and keeps following it. Resolves once caught up. */
  async start(): Promise<void> {
    const checkpoints = this.deps.checkpoints;
    // The registry's state depends on the log, the embeddings model and the settings apply uses.
    const fingerprint = shortHash(`${this.deps.embeddingsModel}\u0000${this.topic}\u0000${this.settings}`, 16);
    const tracker = new PositionTracker(checkpoints ? await this.restore(checkpoints.dir, fingerprint) : undefined);
    const checkpointer = new Checkpointer({
      dir: checkpoints?.dir ?? null,
      stage: 'kc-registry',
      format: REGISTRY_STATE_FORMAT,
      fingerprint,
      everyRecords: checkpoints?.everyRecords,
      everyMs: checkpoints?.everyMs,
      take: () => ({
        positions: tracker.snapshot(),
        sections: { ...this.registry.exportSections(), shared: Buffer.from(JSON.stringify({ logSettings: this.logSettings ?? null, applied: this.applied, skipped: this.skipped, skippedOtherSettings: this.skippedOtherSettings, skippedOtherDimension: this.skippedOtherDimension }), 'utf8') },
        facts: { kcs: this.registry.size, entries_applied: this.applied },
      }),
      log: (level, message, fields) => this.deps.log?.(level, message, fields),
    });
    this.checkpointer = checkpointer;
    let catchingUp = true;
    this.reader = await readLog<KcRegistryEntry>({
      transport: this.deps.transport,
      serde: this.deps.serde,
      topic: this.topic,
      name: 'kc-registry',
      follow: true,
      from: tracker.of(this.topic),
      onValue: (entry, record) => {
        this.applyEntry(entry);
        tracker.applied(record.topic, record.partition, record.offset);
        if (catchingUp) this.entriesRead++;
        checkpointer.applied();
      },
    });
    try {
      await this.reader.caughtUp;
    } catch (error) {
      // The reader wraps what onValue threw; a settings mismatch is the operator's error, said plainly.
      const cause = (error as { cause?: unknown }).cause;
      throw cause instanceof RegistrySettingsError ? cause : error;
    }
    catchingUp = false;
    // after reading a tail at start, at once (in the background)
    void checkpointer.write();
  }

  private checkpointer: Checkpointer | undefined;

  /** The checkpointed registry, if one of this log, model and settings is there; its positions. */
  private async restore(dir: string, fingerprint: string): Promise<Positions | undefined> {
    const read = readCheckpoint(dir, 'kc-registry', { format: REGISTRY_STATE_FORMAT, fingerprint });
    if (!read.ok) {
      if (read.reason !== 'no checkpoint') this.deps.log?.('warn', 'KC registry checkpoint not used; reading the log from its first entry', { reason: read.reason });
      return undefined;
    }
    // A log deleted and made again (a reset) is shorter than the position: the registry is of another log.
    const admin = this.deps.transport.admin();
    const ends = await admin.endOffsets([this.topic]).finally(() => admin.close().catch(() => undefined));
    for (const [partition, offset] of read.checkpoint.positions.get(this.topic) ?? []) {
      const end = ends.find((e) => e.partition === partition)?.offset ?? 0n;
      if (offset > end) {
        this.deps.log?.('warn', 'KC registry checkpoint not used; reading the log from its first entry', { reason: `${this.topic} ends at ${end}, before the checkpoint's position ${offset}: the log was reset since` });
        return undefined;
      }
    }
    try {
      const shared = JSON.parse(Buffer.from(read.checkpoint.sections.shared ?? new Uint8Array()).toString('utf8')) as { logSettings: string | null; applied: number; skipped: number; skippedOtherSettings: number; skippedOtherDimension: number };
      this.registry.loadSections(read.checkpoint.sections);
      this.logSettings = shared.logSettings ?? undefined;
      this.applied = shared.applied;
      this.skipped = shared.skipped;
      this.skippedOtherSettings = shared.skippedOtherSettings;
      this.skippedOtherDimension = shared.skippedOtherDimension;
      this.restoredFrom = { entries: shared.applied, bytes: read.checkpoint.bytes };
      return read.checkpoint.positions;
    } catch (error) {
      this.deps.log?.('warn', 'KC registry checkpoint not used; reading the log from its first entry', { reason: (error as Error).message });
      if (this.registry.size > 0) {
        // Half-loaded: this start cannot go on, and the next must not load it again.
        fs.rmSync(checkpointFile(dir, 'kc-registry'), { force: true });
        throw new Error(`KC registry: a damaged checkpoint was half-loaded and is removed (${(error as Error).message}); the next start reads the log whole`);
      }
      return undefined;
    }
  }

  async stop(): Promise<void> {
    await this.reader?.stop();
    await this.checkpointer?.write();
  }

  /** Settles when following the log ended: resolves after stop(), rejects if reading failed. */
  get following(): Promise<void> {
    return this.reader?.done ?? Promise.resolve();
  }

  /** Entries applied from the log since start (including the rebuild). */
  get entriesApplied(): number {
    return this.applied;
  }

  /** Same contract as KcRegistry.addMany: results in input order. Adds of one instance run one at a time. */
  addMany(inputs: KcAddInput[]): Promise<KcAddResult[]> {
    const run = this.queue.then(() => this.addManyNow(inputs));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async addManyNow(inputs: KcAddInput[]): Promise<KcAddResult[]> {
    if (!this.reader) throw new Error('SharedKcRegistry: start() was not called');
    const unknown = inputs.filter((i) => i.embedding === undefined && this.registry.idOf(i.name) === undefined);
    const vectors = unknown.length > 0 ? await this.deps.embed(unknown.map((i) => i.name)) : [];
    const dim = this.registry.dim;
    const other = vectors.find((v) => dim !== null && v.length !== dim);
    // Another server behind the same model name: its vectors cannot join this registry. A
    // configuration fault (the stage pauses and says why), never a dead letter or a log entry.
    if (other) throw new ConfigurationError('embeddings', dimensionMessage(this.deps.embeddingsModel, other.length, dim!, this.topic));
    const embedded = new Map(unknown.map((input, i) => [input, vectors[i]]));
    const results: KcAddResult[] = [];
    for (const input of inputs) {
      const decision = await this.registry.decide({ name: input.name, embedding: input.embedding ?? embedded.get(input) });
      if (decision.unit === null) results.push(this.registry.apply(decision));
      else results.push(await this.propose(decision));
    }
    return results;
  }

  private async propose(decision: KcDecision): Promise<KcAddResult> {
    const entry: KcRegistryEntry = {
      entry_id: `kcr-${randomUUID()}`,
      name: decision.name,
      key: decision.key,
      vector: Buffer.from(decision.unit!.buffer, decision.unit!.byteOffset, decision.unit!.byteLength),
      embeddings_model: this.deps.embeddingsModel,
      registry_settings: this.settings,
      asked: decision.asked.map((a) => ({ kc_id: a.id, same: a.same, representative: a.representative })),
      proposer: this.proposer,
      proposed_at: (this.deps.now ?? Date.now)(),
    };
    const timeoutMs = this.deps.readBackTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const readBack = new Promise<KcAddResult>((resolve, reject) => {
      this.waiting.set(entry.entry_id, { resolve, reject });
      timer = setTimeout(() => {
        this.waiting.delete(entry.entry_id);
        reject(new RetriableError(`KC registry: entry for "${entry.name}" not read back from ${this.topic} within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      await this.deps.producer.send([{ topic: this.topic, key: Buffer.from(entry.key, 'utf8'), value: await this.deps.serde.encode(this.topic, entry) }]);
      return await readBack;
    } finally {
      clearTimeout(timer);
      this.waiting.delete(entry.entry_id);
    }
  }

  private applyEntry(entry: KcRegistryEntry): void {
    // Vectors of another embedding model live in another space: a registry is per model, and a
    // switch of model starts a new one (the old entries stay in the log, ignored).
    if (entry.embeddings_model !== this.deps.embeddingsModel) {
      this.skipped++;
      return;
    }
    // Entries written before settings were recorded carry none: applied as before.
    if (entry.registry_settings !== '') {
      if (this.logSettings === undefined) {
        this.logSettings = entry.registry_settings;
        // Thrown inside the reader: start() rejects, or, while following, the service stops.
        const differences = applySettingsDifferences(this.registry.applySettings(), JSON.parse(entry.registry_settings) as Partial<KcApplySettings>);
        if (this.logSettings !== this.settings) throw new RegistrySettingsError(differences.length > 0 ? differences : [`settings ${entry.registry_settings}`], this.deps.embeddingsModel, this.topic);
      }
      if (entry.registry_settings !== this.logSettings) {
        this.skippedOtherSettings++;
        return;
      }
    }
    const unit = entry.vector ? new Float32Array(entry.vector.buffer.slice(entry.vector.byteOffset, entry.vector.byteOffset + entry.vector.byteLength)) : null;
    const dim = this.registry.dim;
    if (unit && dim !== null && unit.length !== dim && this.registry.idOf(entry.name) === undefined) {
      // Refused here, by every replica alike, instead of an exception that would stop each of them
      // at this entry on every restart.
      this.skippedOtherDimension++;
      const message = dimensionMessage(entry.embeddings_model, unit.length, dim, this.topic);
      this.deps.log?.('error', 'KC registry entry refused: its vector has another dimension', { entry_id: entry.entry_id, name: entry.name, proposer: entry.proposer, embeddings_model: entry.embeddings_model, entry_dimension: unit.length, registry_dimension: dim, detail: message });
      this.waiting.get(entry.entry_id)?.reject(new ConfigurationError('embeddings', message));
      return;
    }
    const result = this.registry.apply({
      name: entry.name,
      key: entry.key,
      unit,
      asked: entry.asked.map((a) => ({ id: a.kc_id, same: a.same, representative: a.representative })),
    });
    this.applied++;
    this.waiting.get(entry.entry_id)?.resolve(result);
  }
}

function dimensionMessage(model: string, got: number, registry: number, topic: string): string {
  return (
    `KC registry: embeddings model ${model} gave a ${got}-dimension vector, but the registry in ${topic} holds ${registry}-dimension vectors of that model ` +
    '(another server or model version behind the same name?). Point GRIP_EMBEDDINGS_* at the server the registry was built with, or start a new registry under another model name.'
  );
}
