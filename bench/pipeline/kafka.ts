/**
 * The Kafka side of the pipeline benchmark: private topics named after the run (catalog specs
 * renamed, so schema, key and settings are the production ones), the input messages, reading the
 * outputs back, and removing everything the run created.
 */
import type { GripConfig } from '../../services/runtime/config.ts';
import { subjectOf, type Serde } from '../../services/runtime/kafka/serde.ts';
import type { AdminPort, KafkaTransport } from '../../services/runtime/kafka/transport.ts';
import { loadExamples, topicSpec, type TopicSpec } from '../../schemas/catalog.ts';
import type { Combination } from '../../schemas/generated/types.ts';

export interface BenchTopics {
  pairs: TopicSpec;
  candidates: TopicSpec;
}

/** `bench.<runId>.pairs` and `.candidates`, each with its own `.dlq`. */
export function benchTopics(runId: string, partitions: number): BenchTopics {
  const rename = (catalogTopic: string, name: string): TopicSpec => ({ ...topicSpec(catalogTopic), topic: name, dlq: `${name}.dlq`, partitions });
  return { pairs: rename('grip.pairs', `bench.${runId}.pairs`), candidates: rename('grip.candidates', `bench.${runId}.candidates`) };
}

/**
 * n grip.pairs messages built from the topic's example, each with its own combo id and KC names:
 * distinct names make distinct prompts, so no model answer is ever reused from the cache.
 */
export function benchCombinations(runId: string, n: number, now: number): Combination[] {
  const example = loadExamples('grip.pairs')[0]?.value as Combination | undefined;
  if (!example) throw new Error('schemas/examples/grip.pairs has no example message to build the benchmark input from');
  return Array.from({ length: n }, (_, i) => {
    const comboId = `combo-bench-${runId}-${i}`;
    const kcIds = example.kc_ids.map((k, j) => `${k}-${i}-${j}`);
    const kcNames = example.kc_names.map((name) => `${name} (variant ${i})`);
    return {
      ...example,
      combo_id: comboId,
      key: kcIds.join('|'),
      kc_ids: kcIds,
      kc_names: kcNames,
      lineage: { ...example.lineage, combo_id: comboId, kc_ids: kcIds, steps: [] },
      created_at: now,
    };
  });
}

/** Fails fast, with the command that fixes it, when the broker or the registry does not answer. */
export async function checkStack(admin: AdminPort, config: GripConfig, timeoutMs = 10_000): Promise<void> {
  const hint = 'start the local stack with `npm run stack:up` (check it with `npm run stack:status`)';
  const within = <T>(p: Promise<T>): Promise<T> =>
    Promise.race([
      p,
      new Promise<never>((_, reject) => {
        setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs).unref();
      }),
    ]);
  const kafka = config.kafka.bootstrapServers.join(',');
  try {
    await within(admin.listTopics());
  } catch (error) {
    throw new Error(`no Kafka broker answers at ${kafka} (${(error as Error).message}); ${hint}`, { cause: error });
  }
  try {
    const res = await within(fetch(`${config.registry.url}/subjects`));
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch (error) {
    throw new Error(`the schema registry at ${config.registry.url} does not answer (${(error as Error).message}); ${hint}`, { cause: error });
  }
}

/** Produces the values (Avro, keyed as the catalog says) in chunks, so no request grows huge. */
export async function produceValues(transport: KafkaTransport, serde: Serde, topic: string, values: unknown[], chunk = 500): Promise<void> {
  const producer = transport.producer();
  try {
    for (let i = 0; i < values.length; i += chunk) {
      const slice = values.slice(i, i + chunk);
      await producer.send(await Promise.all(slice.map(async (v) => ({ topic, key: serde.keyOf(topic, v), value: await serde.encode(topic, v) }))));
    }
  } finally {
    await producer.close();
  }
}

/** Reads and decodes `count` records of a topic from the beginning with a throwaway group. */
export async function readValues(transport: KafkaTransport, serde: Serde, topic: string, groupId: string, count: number, timeoutMs: number): Promise<unknown[]> {
  const consumer = await transport.consumer({ groupId, topics: [topic], maxWaitMs: 100, maxRecords: 1000 });
  const values: unknown[] = [];
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    while (values.length < count && !timeout.aborted) {
      for (const batch of await consumer.nextBatches(timeout)) for (const r of batch.records) values.push(await serde.decode(topic, r.value));
    }
  } finally {
    await consumer.close();
  }
  return values;
}

/** Deletes the run's topics, consumer groups and registry subjects; failures are reported, not thrown. */
export async function removeBenchArtifacts(admin: AdminPort, config: GripConfig, topics: BenchTopics, groups: string[]): Promise<string[]> {
  const problems: string[] = [];
  const names = [topics.pairs, topics.candidates].flatMap((s) => [s.topic, s.dlq]);
  try {
    const existing = new Set(await admin.listTopics());
    await admin.deleteTopics(names.filter((t) => existing.has(t)));
  } catch (error) {
    problems.push(`deleting topics ${names.join(', ')}: ${(error as Error).message}`);
  }
  for (const g of groups) await admin.deleteGroups([g]).catch((error) => problems.push(`deleting group ${g}: ${(error as Error).message}`));
  for (const spec of [topics.pairs, topics.candidates]) {
    // soft then hard delete, so repeated runs do not pile up subjects in the registry
    const url = `${config.registry.url}/subjects/${encodeURIComponent(subjectOf(spec.topic))}`;
    for (const suffix of ['', '?permanent=true']) {
      const res = await fetch(url + suffix, { method: 'DELETE' }).catch((error: Error) => error);
      if (res instanceof Error) problems.push(`deleting subject ${subjectOf(spec.topic)}: ${res.message}`);
    }
  }
  return problems;
}
