/**
 * `grip dlq list|replay`: reads the DLQ topics (grip.<topic>.dlq) whole. A replay sends each
 * dead letter's original bytes and headers (minus the dlq-* ones) back to the topic it failed on;
 * a seed-ingest reject, which never was a message of grip.seeds, is checked again as a seed line.
 * Replayed letters stay in the DLQ (a log keeps its history); a letter that fails again is
 * dead-lettered anew, with its new position.
 */
import { loadTopics } from '../../schemas/catalog.ts';
import type { GripConfig } from '../../services/runtime/config.ts';
import { DLQ_HEADERS, readLog, type InRecord, type KafkaTransport, type OutRecord, type Serde } from '../../services/runtime/kafka/index.ts';
import { connectKafka, jsonLogger } from '../../services/runtime/service.ts';
import { publishSeeds } from '../../services/seed-ingest/publish.ts';

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

const text = (headers: Record<string, Buffer>, name: string) => headers[name]?.toString('utf8') ?? '';

async function readDeadLetters(
  { transport, serde }: { transport: KafkaTransport; serde: Serde },
  filter: { stage?: string; reason?: string },
): Promise<Array<{ letter: DeadLetter; record: InRecord }>> {
  const out: Array<{ letter: DeadLetter; record: InRecord }> = [];
  for (const spec of loadTopics().values()) {
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

export async function listDeadLetters(config: GripConfig, filter: { stage?: string; reason?: string } = {}): Promise<DeadLetter[]> {
  return (await readDeadLetters(await connectKafka(config, jsonLogger('dlq'), 3), filter)).map((l) => l.letter);
}

export async function replayDeadLetters(config: GripConfig, filter: { stage?: string; reason?: string } = {}): Promise<{ replayed: number; seedsAccepted: number; seedsRejected: number }> {
  const { transport, serde } = await connectKafka(config, jsonLogger('dlq'), 3);
  const letters = await readDeadLetters({ transport, serde }, filter);
  const producer = transport.producer();
  const dlqHeaderNames = new Set<string>(Object.values(DLQ_HEADERS));
  let seedsAccepted = 0;
  let seedsRejected = 0;
  try {
    const records: OutRecord[] = [];
    for (const { letter, record } of letters) {
      if (letter.stage === 'seed-ingest') {
        const result = await publishSeeds(record.value ?? Buffer.alloc(0), { producer, serde, fields: { problem: 'problem', solution: 'solution' }, source: 'dlq-replay' });
        seedsAccepted += result.accepted;
        seedsRejected += result.rejected.length;
        continue;
      }
      const headers = Object.fromEntries(Object.entries(record.headers).filter(([name]) => !dlqHeaderNames.has(name)));
      records.push({ topic: letter.source_topic, key: record.key, value: record.value ?? Buffer.alloc(0), headers: { ...headers, 'grip-replayed-from': `${letter.dlq_topic}@${letter.partition}:${letter.offset}` } });
    }
    if (records.length > 0) await producer.send(records);
  } finally {
    await producer.close();
  }
  return { replayed: letters.length, seedsAccepted, seedsRejected };
}
