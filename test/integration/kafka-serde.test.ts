/** Real broker + registry: topic creation from the catalog, and an Avro round trip in wire format. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExamples, loadTopics } from '../../schemas/catalog.ts';
import { connectSerde, subjectOf } from '../../services/runtime/kafka/serde.ts';
import { ensureTopics } from '../../services/runtime/kafka/topics.ts';
import { DecodeError } from '../../services/runtime/kafka/errors.ts';
import type { AdminPort } from '../../services/runtime/kafka/transport.ts';
import { cleanup, config, readRecords, testSpec, transport } from './kafka-helpers.ts';

const run = Date.now();
const seeds = testSpec('grip.seeds', `test.seeds.${run}`);
const verdicts = testSpec('grip.verdicts', `test.verdicts.${run}`, 2);
let admin: AdminPort;

beforeAll(() => {
  admin = transport.admin();
});
afterAll(async () => {
  await cleanup(admin, [seeds.topic, seeds.dlq, verdicts.topic, verdicts.dlq], [], [seeds.topic, verdicts.topic]);
  await admin.close();
});

describe('kafka topics and serde (real broker and registry)', () => {
  it('ensureTopics creates each topic and its DLQ with the declared partitions and settings, idempotently', async () => {
    const created = await ensureTopics(admin, [seeds, verdicts]);
    expect(created.sort()).toEqual([seeds.topic, seeds.dlq, verdicts.topic, verdicts.dlq].sort());
    expect(await admin.describeTopics([seeds.topic, seeds.dlq, verdicts.topic])).toEqual([
      { topic: seeds.topic, partitions: 3 },
      { topic: seeds.dlq, partitions: 3 },
      { topic: verdicts.topic, partitions: 2 },
    ]);
    expect(await admin.topicConfig(seeds.topic)).toMatchObject(seeds.config);
    expect(await admin.topicConfig(seeds.dlq)).toMatchObject({ 'cleanup.policy': 'delete', 'retention.ms': '2592000000' });
    expect(await ensureTopics(admin, [seeds, verdicts])).toEqual([]); // existing topics are fine
  });

  it('registers every catalog schema as <topic>-value', async () => {
    const serde = await connectSerde({ url: config.registry.url });
    for (const topic of loadTopics().keys()) {
      const latest = (await (await fetch(`${config.registry.url}/subjects/${subjectOf(topic)}/versions/latest`)).json()) as { id: number };
      expect(latest.id).toBe(serde.schemaId(topic));
    }
  });

  it('round-trips every example through a topic in the Confluent wire format', async () => {
    const serde = await connectSerde({ url: config.registry.url, topics: [seeds, verdicts] });
    const producer = transport.producer();
    const examples = [...loadExamples('grip.seeds').map((e) => ({ topic: seeds.topic, value: e.value })), ...loadExamples('grip.verdicts').map((e) => ({ topic: verdicts.topic, value: e.value }))];
    expect(examples.length).toBeGreaterThanOrEqual(3);
    await producer.send(await Promise.all(examples.map(async (e) => ({ topic: e.topic, key: serde.keyOf(e.topic, e.value), value: await serde.encode(e.topic, e.value) }))));
    await producer.close();

    const seedRecords = await readRecords(seeds.topic, 1);
    const verdictRecords = await readRecords(verdicts.topic, examples.length - 1);
    for (const r of [...seedRecords, ...verdictRecords]) {
      expect(r.value![0]).toBe(0); // magic byte
      expect(r.value!.readInt32BE(1)).toBe(serde.schemaId(r.topic));
      const decoded = await serde.decode(r.topic, r.value);
      const original = examples.find((e) => e.topic === r.topic && serde.keyOf(e.topic, e.value).equals(r.key!));
      expect(decoded).toEqual(original?.value);
    }
    await expect(serde.decode(seeds.topic, Buffer.from('{"seed_id":"x"}'))).rejects.toThrow(DecodeError);
    await expect(serde.encode(seeds.topic, { seed_id: 'x' })).rejects.toThrow(/does not match schema test\.seeds\.\d+-value/);
  });
});
