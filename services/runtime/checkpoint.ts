/**
 * Checkpoints of a one-instance stage's state (the judge's settled ids and dedup stores, the KC
 * graph and its sampler), so that a restart or a takeover reads the checkpoint and the tail of the
 * logs after it instead of every log from its first record.
 *
 * A checkpoint is exact: it holds the state folded from its logs up to the positions it names (per
 * topic and partition, the next offset to read), never state whose records may not be in the log.
 * A stage reads it, then each log from those positions on.
 *
 * One file per stage in the service's state directory (the active instance and a standby on the
 * same host share it): magic, a JSON header (stage, format, the settings fingerprint, positions,
 * section sizes), the sections, and a SHA-256 of everything before it. Written to a temporary file,
 * fsynced, then renamed over the previous one: a crash or a full disk while writing leaves the
 * previous checkpoint whole. On reading, anything that is not exactly a checkpoint of this stage,
 * format and settings (missing, truncated, corrupted, older format, other settings) is reported with
 * its reason and ignored: the stage rebuilds from the logs, as it would without one. A checkpoint is
 * never half-used.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Counter, Gauge } from 'prom-client';

const MAGIC = Buffer.from('GRIPCKP1', 'latin1');
const DIGEST_BYTES = 32;

const checkpointWrites = new Counter({ name: 'grip_checkpoint_writes_total', help: 'State checkpoints written, by stage and outcome (ok, failed)', labelNames: ['stage', 'outcome'] as const });
const checkpointBytes = new Gauge({ name: 'grip_checkpoint_bytes', help: 'Size of the last state checkpoint written, by stage', labelNames: ['stage'] as const });
const checkpointSeconds = new Gauge({ name: 'grip_checkpoint_write_seconds', help: 'Seconds the last state checkpoint took to write, by stage', labelNames: ['stage'] as const });

/** Per topic, per partition: the next offset to read. */
export type Positions = Map<string, Map<number, bigint>>;

export interface CheckpointContent {
  /** The state's layout; a reader of another format ignores the file. */
  format: string;
  /** What the state depends on besides the logs (settings, models): another value ignores the file. */
  fingerprint: string;
  positions: Positions;
  sections: Record<string, Uint8Array>;
  /** Small facts shown in logs (counts). */
  facts?: Record<string, number | string>;
}

export interface LoadedCheckpoint extends CheckpointContent {
  writtenAt: number;
  bytes: number;
}

export type CheckpointRead = { ok: true; checkpoint: LoadedCheckpoint } | { ok: false; reason: string };

interface Header {
  stage: string;
  format: string;
  fingerprint: string;
  written_at: number;
  positions: Record<string, Array<[number, string]>>;
  sections: Array<{ name: string; bytes: number }>;
  facts: Record<string, number | string>;
}

export function checkpointFile(dir: string, stage: string): string {
  return path.join(dir, `${stage}.checkpoint`);
}

/** Writes the checkpoint atomically; on any failure the previous one stays and the error is thrown. */
export async function writeCheckpoint(dir: string, stage: string, content: CheckpointContent, now = Date.now()): Promise<number> {
  const t0 = performance.now();
  const header: Header = {
    stage,
    format: content.format,
    fingerprint: content.fingerprint,
    written_at: now,
    positions: Object.fromEntries([...content.positions].map(([topic, parts]) => [topic, [...parts].sort((a, b) => a[0] - b[0]).map(([p, o]) => [p, o.toString()] as [number, string])])),
    sections: Object.entries(content.sections).map(([name, bytes]) => ({ name, bytes: bytes.byteLength })),
    facts: content.facts ?? {},
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(headerBytes.length);
  const parts: Uint8Array[] = [MAGIC, length, headerBytes, ...Object.values(content.sections)];
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  parts.push(hash.digest());

  const file = checkpointFile(dir, stage);
  // unique per write: two instances of a stage in one process (a lost lease and the next) may overlap
  const tmp = `${file}.tmp-${process.pid}-${randomUUID().slice(0, 8)}`;
  await removeStaleTemporaries(dir, path.basename(file));
  let total = 0;
  try {
    await fs.promises.mkdir(dir, { recursive: true });
    const handle = await fs.promises.open(tmp, 'w');
    try {
      for (const part of parts) {
        let written = 0;
        while (written < part.byteLength) written += (await handle.write(part, written, part.byteLength - written)).bytesWritten;
        total += part.byteLength;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(tmp, file);
    await syncDir(dir);
  } catch (error) {
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    checkpointWrites.inc({ stage, outcome: 'failed' });
    throw error;
  }
  checkpointWrites.inc({ stage, outcome: 'ok' });
  checkpointBytes.set({ stage }, total);
  checkpointSeconds.set({ stage }, (performance.now() - t0) / 1000);
  return total;
}

/** Reads the stage's checkpoint if it is whole and of this format and settings; otherwise why not. */
export function readCheckpoint(dir: string, stage: string, expect: { format: string; fingerprint: string }): CheckpointRead {
  const file = checkpointFile(dir, stage);
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { ok: false, reason: 'no checkpoint' };
    return { ok: false, reason: `cannot read ${file}: ${(error as Error).message}` };
  }
  if (data.length < MAGIC.length + 4 + DIGEST_BYTES || !data.subarray(0, MAGIC.length).equals(MAGIC)) return { ok: false, reason: `${file} is not a checkpoint (or is truncated to ${data.length} bytes)` };
  const body = data.subarray(0, data.length - DIGEST_BYTES);
  if (!createHash('sha256').update(body).digest().equals(data.subarray(data.length - DIGEST_BYTES))) return { ok: false, reason: `${file} is truncated or corrupted (checksum mismatch, ${data.length} bytes)` };
  const headerLength = data.readUInt32BE(MAGIC.length);
  let header: Header;
  try {
    header = JSON.parse(data.subarray(MAGIC.length + 4, MAGIC.length + 4 + headerLength).toString('utf8')) as Header;
  } catch {
    return { ok: false, reason: `${file} has an unreadable header` };
  }
  if (header.stage !== stage) return { ok: false, reason: `${file} is a checkpoint of ${header.stage}, not ${stage}` };
  if (header.format !== expect.format) return { ok: false, reason: `${file} has format ${header.format}, this version reads ${expect.format}` };
  if (header.fingerprint !== expect.fingerprint) return { ok: false, reason: `${file} was written under other settings (${header.fingerprint}, now ${expect.fingerprint})` };
  const sections: Record<string, Uint8Array> = {};
  let at = MAGIC.length + 4 + headerLength;
  for (const { name, bytes } of header.sections) {
    if (at + bytes > body.length) return { ok: false, reason: `${file}: section ${name} runs past the end` };
    sections[name] = body.subarray(at, at + bytes);
    at += bytes;
  }
  if (at !== body.length) return { ok: false, reason: `${file}: ${body.length - at} bytes after the last section` };
  const positions: Positions = new Map(Object.entries(header.positions).map(([topic, parts]) => [topic, new Map(parts.map(([p, o]) => [p, BigInt(o)]))]));
  return { ok: true, checkpoint: { format: header.format, fingerprint: header.fingerprint, positions, sections, facts: header.facts, writtenAt: header.written_at, bytes: data.length } };
}

/** Temporary files a killed writer left (older than an hour: never one being written). */
async function removeStaleTemporaries(dir: string, base: string): Promise<void> {
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  const cutoff = Date.now() - 3_600_000;
  for (const name of names) {
    if (!name.startsWith(`${base}.tmp-`)) continue;
    const full = path.join(dir, name);
    const stat = await fs.promises.stat(full).catch(() => undefined);
    if (stat && stat.mtimeMs < cutoff) await fs.promises.rm(full, { force: true }).catch(() => undefined);
  }
}

async function syncDir(dir: string): Promise<void> {
  // The rename is durable only once the directory is; not every platform lets a directory be opened.
  const handle = await fs.promises.open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}

/** Tracks, per topic and partition, the next offset to read of the records applied so far. */
export class PositionTracker {
  readonly positions: Positions = new Map();

  constructor(from?: Positions) {
    for (const [topic, parts] of from ?? []) this.positions.set(topic, new Map(parts));
  }

  /** A record applied (a redelivered older one never moves a position back). */
  applied(topic: string, partition: number, offset: bigint): void {
    let parts = this.positions.get(topic);
    if (!parts) this.positions.set(topic, (parts = new Map()));
    if (offset + 1n > (parts.get(partition) ?? 0n)) parts.set(partition, offset + 1n);
  }

  of(topic: string): Map<number, bigint> | undefined {
    return this.positions.get(topic);
  }

  snapshot(): Positions {
    return new Map([...this.positions].map(([t, p]) => [t, new Map(p)]));
  }
}

/** Records applied, or time passed with at least one record, between two checkpoints. */
export const CHECKPOINT_EVERY_RECORDS = 50_000;
export const CHECKPOINT_EVERY_MS = 5 * 60_000;

export interface CheckpointerOptions {
  /** null: checkpoints are off (grip run). */
  dir: string | null;
  stage: string;
  format: string;
  fingerprint: string;
  /** The state and the positions it covers, taken at once (at a moment when the two agree). */
  take: () => { positions: Positions; sections: Record<string, Uint8Array>; facts?: Record<string, number | string> };
  log: (level: 'info' | 'warn', message: string, fields: Record<string, unknown>) => void;
  everyRecords?: number;
  everyMs?: number;
  /**
   * true (default): `applied()` writes when one is due (a state that agrees with its positions
   * between any two records). false: the stage calls `write()` itself, at moments when they agree,
   * after asking `due()`.
   */
  auto?: boolean;
  now?: () => number;
}

/**
 * Writes a stage's checkpoint every `everyRecords` applied records, or after `everyMs` with at least
 * one: the state is taken synchronously when write() is called (consistent with its positions), the
 * file is written in the background, one write at a time. A failed write is logged and its records
 * stay owed, so the next turn writes again.
 */
export class Checkpointer {
  private since = 0;
  private lastAt: number;
  private chain: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private readonly now: () => number;

  constructor(private readonly o: CheckpointerOptions) {
    this.now = o.now ?? Date.now;
    this.lastAt = this.now();
  }

  /** Records applied since the last checkpoint (what a restart would read after it). */
  get tail(): number {
    return this.since;
  }

  /** Records applied to the state (one by default). */
  applied(records = 1): void {
    this.since += records;
    if (this.o.auto !== false && this.due()) void this.write();
  }

  /** A checkpoint is due (and none is being written). */
  due(): boolean {
    if (this.o.dir === null || this.inFlight > 0 || this.since === 0) return false;
    return this.since >= (this.o.everyRecords ?? CHECKPOINT_EVERY_RECORDS) || this.now() - this.lastAt >= (this.o.everyMs ?? CHECKPOINT_EVERY_MS);
  }

  /** Takes the state now, if anything was applied since the last checkpoint, and writes it after the writes before it. */
  write(): Promise<void> {
    const dir = this.o.dir;
    if (dir === null || this.since === 0) return this.chain;
    const taken = this.o.take();
    const records = this.since;
    this.since = 0;
    this.lastAt = this.now();
    this.inFlight++;
    const run = this.chain.then(async () => {
      const t0 = performance.now();
      try {
        const bytes = await writeCheckpoint(dir, this.o.stage, { format: this.o.format, fingerprint: this.o.fingerprint, ...taken });
        this.o.log('info', 'state checkpoint written', { stage: this.o.stage, bytes, records_since_previous: records, seconds: round((performance.now() - t0) / 1000), ...taken.facts });
      } catch (error) {
        this.since += records; // still owed
        this.o.log('warn', 'state checkpoint not written; the previous one stays', { stage: this.o.stage, error: (error as Error).message });
      } finally {
        this.inFlight--;
      }
    });
    this.chain = run;
    return run;
  }

  /** Waits for the writes in flight. */
  flush(): Promise<void> {
    return this.chain;
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The one way a stage starts from its checkpoint: read it, turn its sections into state with
 * `load`, or say why not (logged) and return undefined, so the stage reads its logs from the start.
 */
export async function restoreCheckpoint<T>(o: {
  checkpoints: { dir: string } | undefined;
  /** Asked for the logs' end offsets: a position past a log's end means the log was reset since. */
  endOffsets: (topics: string[]) => Promise<Array<{ topic: string; partition: number; offset: bigint }>>;
  stage: string;
  format: string;
  fingerprint: string;
  log: (level: 'info' | 'warn', message: string, fields: Record<string, unknown>) => void;
  load: (checkpoint: LoadedCheckpoint) => { state: T; facts: Record<string, unknown> };
}): Promise<{ state: T; positions: Positions } | undefined> {
  if (!o.checkpoints) return undefined;
  const notUsed = (level: 'info' | 'warn', reason: string) => o.log(level, `${o.stage} checkpoint not used; reading the logs from their first records`, { reason });
  const read = readCheckpoint(o.checkpoints.dir, o.stage, { format: o.format, fingerprint: o.fingerprint });
  if (!read.ok) {
    notUsed(read.reason === 'no checkpoint' ? 'info' : 'warn', read.reason);
    return undefined;
  }
  // A topic deleted and made again (a reset) is shorter than the positions: the state is of another log.
  const topics = [...read.checkpoint.positions.keys()];
  const ends = new Map((topics.length > 0 ? await o.endOffsets(topics) : []).map((e) => [`${e.topic}:${e.partition}`, e.offset]));
  for (const [topic, parts] of read.checkpoint.positions) {
    for (const [partition, offset] of parts) {
      const end = ends.get(`${topic}:${partition}`) ?? 0n;
      if (offset > end) {
        notUsed('warn', `${topic} partition ${partition} ends at ${end}, before the checkpoint's position ${offset}: the log was reset since`);
        return undefined;
      }
    }
  }
  try {
    const { state, facts } = o.load(read.checkpoint);
    o.log('info', `${o.stage} state restored from its checkpoint`, { bytes: read.checkpoint.bytes, written_at: new Date(read.checkpoint.writtenAt).toISOString(), ...facts });
    return { state, positions: read.checkpoint.positions };
  } catch (error) {
    notUsed('warn', (error as Error).message);
    return undefined;
  }
}
