/**
 * The producer port on the real broker: overlapping send() calls must all land. @platformatic/kafka
 * 1.35.0's idempotent producer silently drops records when sends overlap (issue #326); our port
 * serializes and merges them. This test fails if that protection is removed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminPort } from '../../services/runtime/kafka/transport.ts';
import { cleanup, readRecords, transport } from './kafka-helpers.ts';

const topic = `test.producer.${Date.now()}`;
let admin: AdminPort;

beforeAll(async () => {
  admin = transport.admin();
  await admin.createTopics([{ topic, partitions: 3, config: {} }]);
});
afterAll(async () => {
  await cleanup(admin, [topic], [], []);
  await admin.close();
});

describe('producer port (real broker)', () => {
  it('lands every record of many overlapping sends, once, with headers', async () => {
    const producer = transport.producer();
    const sends = Array.from({ length: 20 }, (_, i) =>
      producer.send([
        { topic, key: Buffer.from('same-key'), value: Buffer.from(`single-${i}`) }, // one partition, many sends
        { topic, key: Buffer.from(`k${i}`), value: Buffer.from(`spread-${i}`), headers: { n: String(i) } },
      ]),
    );
    await Promise.all(sends);
    await producer.close();
    const end = await admin.endOffsets([topic]);
    expect(end.reduce((a, o) => a + o.offset, 0n)).toBe(40n);
    const records = await readRecords(topic, 40);
    expect(new Set(records.map((r) => r.value!.toString())).size).toBe(40);
    const spread = records.filter((r) => r.value!.toString().startsWith('spread-'));
    for (const r of spread) expect(r.headers.n!.toString()).toBe(r.value!.toString().slice('spread-'.length));
    // records of one key keep their send order
    const single = records.filter((r) => r.key!.toString() === 'same-key').map((r) => Number(r.value!.toString().split('-')[1]));
    expect(single).toEqual([...single].sort((a, b) => a - b));
  });
});
