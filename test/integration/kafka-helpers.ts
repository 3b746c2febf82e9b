/** Shared setup of the Kafka integration tests: unique topics per run, polling, cleanup. */
import { loadConfig } from '../../services/runtime/config.ts';
import { platformaticTransport } from '../../services/runtime/kafka/platformatic.ts';
import type { AdminPort, InRecord, KafkaTransport, TopicPartitionOffset } from '../../services/runtime/kafka/transport.ts';
import { topicSpec, type TopicSpec } from '../../schemas/catalog.ts';
import { subjectOf, type Serde } from '../../services/runtime/kafka/serde.ts';
import type { Seed } from '../../schemas/generated/types.ts';

export const config = loadConfig();
export const transport: KafkaTransport = platformaticTransport(config.kafka);

/** A catalog topic's spec under a name unique to this run (same schema, key, partitions, settings). */
export function testSpec(catalogTopic: string, name: string, partitions = 3): TopicSpec {
  return { ...topicSpec(catalogTopic), topic: name, dlq: `${name}.dlq`, partitions };
}

export async function until<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sum = (offsets: TopicPartitionOffset[]) => offsets.reduce((a, o) => a + o.offset, 0n);

/** Polls until the group has committed the end offset of every partition of `topic`. */
export async function untilCaughtUp(admin: AdminPort, groupId: string, topic: string, timeoutMs?: number): Promise<bigint> {
  return until(async () => {
    const [end, committed] = await Promise.all([admin.endOffsets([topic]), admin.groupOffsets(groupId, [topic])]);
    return sum(committed) === sum(end) && sum(end) > 0n ? sum(end) : undefined;
  }, `group ${groupId} to commit the end of ${topic}`, timeoutMs);
}

export async function committedTotal(admin: AdminPort, groupId: string, topic: string): Promise<bigint> {
  return sum(await admin.groupOffsets(groupId, [topic]));
}

/** Reads `count` records of a topic from the beginning with a throwaway group. */
export async function readRecords(topic: string, count: number, timeoutMs = 20_000): Promise<InRecord[]> {
  const consumer = await transport.consumer({ groupId: `reader-${topic}-${Date.now()}`, topics: [topic], maxWaitMs: 100 });
  const out: InRecord[] = [];
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    while (out.length < count && !timeout.aborted) for (const b of await consumer.nextBatches(timeout)) out.push(...b.records);
  } finally {
    await consumer.close();
  }
  if (out.length < count) throw new Error(`read ${out.length} of ${count} records from ${topic} in ${timeoutMs} ms`);
  return out;
}

export async function cleanup(admin: AdminPort, topics: string[], groups: string[], subjects: string[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  await admin.deleteTopics(topics.filter((t) => existing.has(t))).catch(() => undefined);
  for (const g of groups) await admin.deleteGroups([g]).catch(() => undefined);
  for (const topic of subjects) {
    // soft then hard delete, so repeated runs do not pile up subjects in the registry
    const url = `${config.registry.url}/subjects/${encodeURIComponent(subjectOf(topic))}`;
    await fetch(url, { method: 'DELETE' }).catch(() => undefined);
    await fetch(`${url}?permanent=true`, { method: 'DELETE' }).catch(() => undefined);
  }
}

/** A small seed message whose id is unique to this test run. */
export function testSeed(prefix: string, run: number, i: number): Seed {
  return { seed_id: `${prefix}-${run}-${i}`, problem: `What is ${i} + ${i}?`, solution: `${2 * i}`, source: 'test', source_id: null, ingested_at: run };
}

/** Produces n test seeds (Avro, keyed as the catalog says) to a topic and returns them. */
export async function produceSeeds(serde: Serde, topic: string, prefix: string, run: number, n: number): Promise<Seed[]> {
  const producer = transport.producer();
  const values = Array.from({ length: n }, (_, i) => testSeed(prefix, run, i));
  await producer.send(await Promise.all(values.map(async (v) => ({ topic, key: serde.keyOf(topic, v), value: await serde.encode(topic, v) }))));
  await producer.close();
  return values;
}
