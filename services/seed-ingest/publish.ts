/**
 * Sends seed lines to Kafka: valid seeds to grip.seeds (keyed by their content hash), rejected
 * lines to grip.seeds.dlq with the reason in headers and the field mapping they were read with
 * (so that `grip dlq replay` checks them again the same way). Shared by `grip seed add`, POST /seeds
 * and `grip dlq replay`.
 *
 * Lines are handed over one at a time (`SeedPublisher.line`) and sent in requests of at most
 * `FLUSH_BYTES`, so neither a 64 MiB body nor a file of any size is held whole: memory is one
 * request plus the set of seed ids seen (for the duplicate count). The result is bounded too:
 * counts, and the first `MAX_LISTED` rejections and seed ids.
 */
import { MATH_FIELDS, type FieldMapping } from '../../core/seeds/index.ts';
import { shortHash } from '../../core/util/hash.ts';
import { DLQ_HEADERS, recordBytes, type ProducerPort, type OutRecord, type Serde } from '../runtime/kafka/index.ts';
import { truncateUtf8 } from '../runtime/kafka/dlq.ts';
import { Counter } from 'prom-client';
import { ingestSeed, LineSplitter, splitLines } from './handler.ts';

export const SEEDS_TOPIC = 'grip.seeds';
export const SEEDS_DLQ = 'grip.seeds.dlq';
/** Dead-lettered lines keep at most this many bytes (Kafka's default record limit is 1 MB). */
const MAX_DLQ_PAYLOAD_BYTES = 64 * 1024;
/** Header of a seed reject: the field mapping (JSON {problem, solution, id?}) the line was read with. */
export const SEED_FIELDS_HEADER = 'grip-seed-fields';
/** Bytes of records gathered before they are sent (the producer splits requests by bytes too). */
export const FLUSH_BYTES = 512 * 1024;
/** Rejections and seed ids listed in a result; the counts cover every line. */
export const MAX_LISTED = 100;

const seedsIn = new Counter({ name: 'grip_seed_ingest_lines_total', help: 'Seed lines received, by outcome (accepted, duplicate, rejected)', labelNames: ['outcome'] as const });

export interface PublishResult {
  accepted: number;
  /** Lines whose seed appeared earlier in the same request or file (sent once). */
  duplicates: number;
  /** Lines refused (each sent to grip.seeds.dlq with its reason). */
  rejected: number;
  /** The first MAX_LISTED rejected lines. */
  rejections: Array<{ line: number; reason: string; message: string }>;
  /** The first MAX_LISTED accepted seed ids. */
  seed_ids: string[];
  /** True when `rejections` or `seed_ids` leave some out. */
  truncated: boolean;
}

export interface PublishDeps {
  producer: ProducerPort;
  serde: Serde;
  fields: FieldMapping;
  source: string;
  now?: () => number;
}

/** The field mapping a seed reject was read with, from its headers; the default mapping for letters written before the header existed. */
export function seedFieldsOf(headers: Record<string, Buffer>): FieldMapping {
  const raw = headers[SEED_FIELDS_HEADER];
  if (!raw) return MATH_FIELDS;
  const parsed = JSON.parse(raw.toString('utf8')) as Partial<FieldMapping>;
  if (typeof parsed.problem !== 'string' || typeof parsed.solution !== 'string') return MATH_FIELDS;
  return { problem: parsed.problem, solution: parsed.solution, id: typeof parsed.id === 'string' ? parsed.id : undefined };
}

export class SeedPublisher {
  private readonly result: PublishResult = { accepted: 0, duplicates: 0, rejected: 0, rejections: [], seed_ids: [], truncated: false };
  private readonly seen = new Set<string>();
  private readonly now: number;
  private readonly fieldsHeader: string;
  private batch: OutRecord[] = [];
  private batchBytes = 0;

  constructor(private readonly deps: PublishDeps) {
    this.now = (deps.now ?? Date.now)();
    this.fieldsHeader = JSON.stringify({ problem: deps.fields.problem, solution: deps.fields.solution, ...(deps.fields.id ? { id: deps.fields.id } : {}) });
  }

  /**
   * One input line (1-based number, its bytes, and its real length when `bytes` is only its start);
   * resolves once it is queued (after a send, when the batch was full).
   */
  async line(line: number, bytes: Buffer, byteLength?: number): Promise<void> {
    const { deps, result } = this;
    const outcome = ingestSeed(bytes, { fields: deps.fields, source: deps.source, position: `line:${line}`, now: this.now, byteLength });
    if (outcome.kind === 'ok') {
      const seed = outcome.value;
      if (this.seen.has(seed.seed_id)) {
        result.duplicates++;
        seedsIn.inc({ outcome: 'duplicate' });
        return;
      }
      this.seen.add(seed.seed_id);
      result.accepted++;
      if (result.seed_ids.length < MAX_LISTED) result.seed_ids.push(seed.seed_id);
      else result.truncated = true;
      seedsIn.inc({ outcome: 'accepted' });
      await this.add({ topic: SEEDS_TOPIC, key: deps.serde.keyOf(SEEDS_TOPIC, seed), value: await deps.serde.encode(SEEDS_TOPIC, seed) });
    } else if (outcome.kind === 'dlq') {
      result.rejected++;
      if (result.rejections.length < MAX_LISTED) result.rejections.push({ line, reason: outcome.reason, message: outcome.detail });
      else result.truncated = true;
      seedsIn.inc({ outcome: 'rejected' });
      await this.add({
        topic: SEEDS_DLQ,
        key: Buffer.from(`reject-${shortHash(bytes.toString('base64'), 24)}`),
        value: Buffer.from(bytes.subarray(0, MAX_DLQ_PAYLOAD_BYTES)),
        headers: {
          [DLQ_HEADERS.reason]: outcome.reason,
          [DLQ_HEADERS.stage]: 'seed-ingest',
          [DLQ_HEADERS.timestamp]: new Date(this.now).toISOString(),
          [DLQ_HEADERS.detail]: truncateUtf8(`${deps.source} line ${line}: ${outcome.detail}`, 4096),
          [DLQ_HEADERS.sourceTopic]: SEEDS_TOPIC,
          [SEED_FIELDS_HEADER]: this.fieldsHeader,
          'grip-original-bytes': String(bytes.byteLength),
        },
      });
    }
  }

  /** Sends what is left; resolves with the result once the broker acknowledged every record. */
  async finish(): Promise<PublishResult> {
    await this.flush();
    return this.result;
  }

  /** The result so far (what was sent before a failure or a refused rest of a body). */
  partial(): PublishResult {
    return this.result;
  }

  private async add(record: OutRecord): Promise<void> {
    this.batch.push(record);
    this.batchBytes += recordBytes(record);
    if (this.batchBytes >= FLUSH_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    if (batch.length > 0) await this.deps.producer.send(batch);
  }
}

/** Publishes every line of `body` (one dead letter, a test's lines). */
export async function publishSeeds(body: Buffer, deps: PublishDeps): Promise<PublishResult> {
  const publisher = new SeedPublisher(deps);
  for (const { line, bytes } of splitLines(body)) await publisher.line(line, bytes);
  return publisher.finish();
}

/** Publishes the lines of a stream (a file) as they arrive, the first `limit` lines at most. */
export async function publishStream(chunks: AsyncIterable<Buffer>, deps: PublishDeps, opts: { limit?: number } = {}): Promise<PublishResult> {
  const publisher = new SeedPublisher(deps);
  const splitter = new LineSplitter();
  const limit = opts.limit ?? Infinity;
  let seen = 0;
  const take = async (lines: Array<{ line: number; bytes: Buffer; byteLength: number }>) => {
    for (const l of lines) {
      if (l.line > limit) return false;
      seen = l.line;
      await publisher.line(l.line, l.bytes, l.byteLength);
      if (l.line === limit) return false; // the rest of the file is not read
    }
    return true;
  };
  for await (const chunk of chunks) if (!(await take(splitter.push(chunk)))) return publisher.finish();
  if (seen < limit) await take(splitter.end());
  return publisher.finish();
}
