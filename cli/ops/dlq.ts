/**
 * `grip dlq list|replay`: reads the DLQ topics (grip.<topic>.dlq) from their first record still
 * held to their end (a partition whose records all expired is empty, not waited on).
 *
 * A replay sends each dead letter's original bytes and headers (minus the dlq-* ones) back to the
 * topic it failed on, marked with the stage it is for (`grip-replay-for`): only that stage handles
 * it, every other reader of the topic skips it. A seed-ingest reject, which never was a message of
 * grip.seeds, is checked again as a seed line with the field mapping it was read with at ingest.
 * Replayed letters stay in the DLQ (a log keeps its history) and are remembered in
 * <GRIP_STATE_DIR>/dlq-replay (an on-disk set of `topic@partition:offset`), so the next replay sends
 * only new letters (`--again` sends them all); a letter that fails again is dead-lettered anew.
 */
import path from 'node:path';
import { loadTopics } from '../../schemas/catalog.ts';
import type { GripConfig } from '../../services/runtime/config.ts';
import { DiskKv } from '../../services/runtime/disk-kv.ts';
import { DLQ_HEADERS, readLog, REPLAY_FOR_HEADER, type InRecord, type KafkaTransport, type OutRecord, type Serde } from '../../services/runtime/kafka/index.ts';
import { connectKafka, jsonLogger } from '../../services/runtime/service.ts';
import { publishSeeds, seedFieldsOf } from '../../services/seed-ingest/publish.ts';

export interface DeadLetter {
  dlq_topic: string;
  partition: number;
  offset: string;
  stage: string;
  reason: string;
  detail: string;
  source_topic: string;
  key: string;
  failed_at: string;
  bytes: number;
}

export interface DlqFilter {
  stage?: string;
  reason?: string;
  /** DLQ topics to read (default: every DLQ of schemas/topics.yaml); tests use their own. */
  topics?: Array<{ dlq: string; topic: string }>;
}

const text = (headers: Record<string, Buffer>, name: string) => headers[name]?.toString('utf8') ?? '';

/** A dead letter's position, the key under which a replay remembers it. */
export const letterId = (l: Pick<DeadLetter, 'dlq_topic' | 'partition' | 'offset'>) => `${l.dlq_topic}@${l.partition}:${l.offset}`;

async function readDeadLetters({ transport, serde }: { transport: KafkaTransport; serde: Serde }, filter: DlqFilter): Promise<Array<{ letter: DeadLetter; record: InRecord }>> {
  const out: Array<{ letter: DeadLetter; record: InRecord }> = [];
  for (const spec of filter.topics ?? [...loadTopics().values()]) {
    const reader = await readLog<InRecord>({
      transport,
      serde,
      topic: spec.dlq,
      name: 'dlq-list',
      decode: async (record) => record,
      onValue: (record) => {
        const letter: DeadLetter = {
          dlq_topic: spec.dlq,
          partition: record.partition,
          offset: String(record.offset),
          stage: text(record.headers, DLQ_HEADERS.stage),
          reason: text(record.headers, DLQ_HEADERS.reason),
          detail: text(record.headers, DLQ_HEADERS.detail),
          source_topic: text(record.headers, DLQ_HEADERS.sourceTopic) || spec.topic,
          key: record.key?.toString('utf8') ?? '',
          failed_at: text(record.headers, DLQ_HEADERS.timestamp),
          bytes: record.value?.length ?? 0,
        };
        if (filter.stage && letter.stage !== filter.stage) return;
        if (filter.reason && letter.reason !== filter.reason) return;
        out.push({ letter, record });
      },
    });
    await reader.done;
  }
  return out;
}

export async function listDeadLetters(config: GripConfig, filter: DlqFilter = {}): Promise<DeadLetter[]> {
  return (await readDeadLetters(await connectKafka(config, jsonLogger('dlq'), 10_000), filter)).map((l) => l.letter);
}

/** The record a (non seed-ingest) letter is replayed as: its original bytes and headers, for its stage only. */
export function replayRecord(letter: DeadLetter, record: InRecord): OutRecord {
  const dlqHeaderNames = new Set<string>(Object.values(DLQ_HEADERS));
  const headers = Object.fromEntries(Object.entries(record.headers).filter(([name]) => !dlqHeaderNames.has(name) && name !== REPLAY_FOR_HEADER));
  return {
    topic: letter.source_topic,
    key: record.key,
    value: record.value ?? Buffer.alloc(0),
    headers: { ...headers, [REPLAY_FOR_HEADER]: letter.stage, 'grip-replayed-from': letterId(letter) },
  };
}

export interface ReplayResult {
  replayed: number;
  /** Letters left out because an earlier replay sent them. */
  skipped: number;
  seedsAccepted: number;
  seedsRejected: number;
}

export async function replayDeadLetters(config: GripConfig, filter: DlqFilter & { again?: boolean } = {}): Promise<ReplayResult> {
  const { transport, serde } = await connectKafka(config, jsonLogger('dlq'), 10_000);
  const letters = await readDeadLetters({ transport, serde }, filter);
  const memory = new DiskKv(path.join(config.services.stateDir, 'dlq-replay', 'replayed'));
  const producer = transport.producer();
  const result: ReplayResult = { replayed: 0, skipped: 0, seedsAccepted: 0, seedsRejected: 0 };
  // Letters go out in batches (the producer splits requests by bytes); a letter is remembered only once acknowledged.
  let pending: Array<{ id: string; record: OutRecord }> = [];
  const flush = async () => {
    if (pending.length === 0) return;
    await producer.send(pending.map((p) => p.record));
    for (const p of pending) memory.put(p.id, Buffer.from(new Date().toISOString()));
    result.replayed += pending.length;
    pending = [];
  };
  try {
    for (const { letter, record } of letters) {
      const id = letterId(letter);
      if (!filter.again && memory.has(id)) {
        result.skipped++;
        continue;
      }
      if (letter.stage === 'seed-ingest') {
        const seeds = await publishSeeds(record.value ?? Buffer.alloc(0), { producer, serde, fields: seedFieldsOf(record.headers), source: 'dlq-replay' });
        result.seedsAccepted += seeds.accepted;
        result.seedsRejected += seeds.rejected;
        memory.put(id, Buffer.from(new Date().toISOString()));
        result.replayed++;
      } else {
        pending.push({ id, record: replayRecord(letter, record) });
        if (pending.length >= 500) await flush();
      }
    }
    await flush();
  } finally {
    memory.close();
    await producer.close();
  }
  return result;
}
