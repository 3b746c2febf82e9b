/**
 * Sends seed lines to Kafka: valid seeds to grip.seeds (keyed by their content hash), rejected
 * lines to grip.seeds.dlq with the reason in headers. Shared by `grip seed add` and POST /seeds.
 * Returns what happened to every line, so the caller can tell the user.
 */
import type { FieldMapping } from '../../core/seeds/index.ts';
import { shortHash } from '../../core/util/hash.ts';
import { DLQ_HEADERS, type ProducerPort, type OutRecord, type Serde } from '../runtime/kafka/index.ts';
import { truncateUtf8 } from '../runtime/kafka/dlq.ts';
import { Counter } from 'prom-client';
import { ingestSeed, splitLines } from './handler.ts';

export const SEEDS_TOPIC = 'grip.seeds';
export const SEEDS_DLQ = 'grip.seeds.dlq';
/** Dead-lettered lines keep at most this many bytes (Kafka's default record limit is 1 MB). */
const MAX_DLQ_PAYLOAD_BYTES = 64 * 1024;

const seedsIn = new Counter({ name: 'grip_seed_ingest_lines_total', help: 'Seed lines received, by outcome (accepted, duplicate, rejected)', labelNames: ['outcome'] as const });

export interface PublishResult {
  accepted: number;
  /** Lines whose seed appeared earlier in the same request or file (sent once). */
  duplicates: number;
  rejected: Array<{ line: number; reason: string; message: string }>;
  seed_ids: string[];
}

export interface PublishDeps {
  producer: ProducerPort;
  serde: Serde;
  fields: FieldMapping;
  source: string;
  now?: () => number;
  /** Records per send. */
  chunk?: number;
}

export async function publishSeeds(body: Buffer, deps: PublishDeps): Promise<PublishResult> {
  const now = (deps.now ?? Date.now)();
  const result: PublishResult = { accepted: 0, duplicates: 0, rejected: [], seed_ids: [] };
  const seen = new Set<string>();
  let batch: OutRecord[] = [];
  const flush = async () => {
    if (batch.length > 0) await deps.producer.send(batch);
    batch = [];
  };
  for (const { line, bytes } of splitLines(body)) {
    const outcome = ingestSeed(bytes, { fields: deps.fields, source: deps.source, position: `line:${line}`, now });
    if (outcome.kind === 'ok') {
      const seed = outcome.value;
      if (seen.has(seed.seed_id)) {
        result.duplicates++;
        seedsIn.inc({ outcome: 'duplicate' });
        continue;
      }
      seen.add(seed.seed_id);
      result.accepted++;
      result.seed_ids.push(seed.seed_id);
      seedsIn.inc({ outcome: 'accepted' });
      batch.push({ topic: SEEDS_TOPIC, key: deps.serde.keyOf(SEEDS_TOPIC, seed), value: await deps.serde.encode(SEEDS_TOPIC, seed) });
    } else if (outcome.kind === 'dlq') {
      result.rejected.push({ line, reason: outcome.reason, message: outcome.detail });
      seedsIn.inc({ outcome: 'rejected' });
      const kept = bytes.subarray(0, MAX_DLQ_PAYLOAD_BYTES);
      batch.push({
        topic: SEEDS_DLQ,
        key: Buffer.from(`reject-${shortHash(bytes.toString('base64'), 24)}`),
        value: Buffer.from(kept),
        headers: {
          [DLQ_HEADERS.reason]: outcome.reason,
          [DLQ_HEADERS.stage]: 'seed-ingest',
          [DLQ_HEADERS.timestamp]: new Date(now).toISOString(),
          [DLQ_HEADERS.detail]: truncateUtf8(`${deps.source} line ${line}: ${outcome.detail}`, 4096),
          [DLQ_HEADERS.sourceTopic]: SEEDS_TOPIC,
          'grip-original-bytes': String(bytes.byteLength),
        },
      });
    }
    if (batch.length >= (deps.chunk ?? 500)) await flush();
  }
  await flush();
  return result;
}
