/**
 * The consumer port on the real broker delivers records produced AFTER it went idle. With
 * @platformatic/kafka 1.35 a consumer that waited for data with a 'readable' listener added per
 * wait stopped fetching for good (the client's fetch loop ends when the stream's readableFlowing
 * is null, which Node sets when the last 'readable' listener is removed): the pipeline's stages
 * got their first batch and nothing after it. This test fails without the fix in platformatic.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminPort, ConsumerPort } from '../../services/runtime/kafka/transport.ts';
import { cleanup, transport } from './kafka-helpers.ts';

const topic = `test.late.${Date.now()}`;
const group = `test.late.group.${Date.now()}`;
let admin: AdminPort;

beforeAll(async () => {
  admin = transport.admin();
  await admin.createTopics([{ topic, partitions: 6, config: {} }]);
});
afterAll(async () => {
  await cleanup(admin, [topic], [group], []);
  await admin.close();
});

async function drain(consumer: ConsumerPort, want: number, timeoutMs: number): Promise<number> {
  let got = 0;
  const deadline = Date.now() + timeoutMs;
  while (got < want && Date.now() < deadline) {
    const stop = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
    const batches = await consumer.nextBatches(stop);
    got += batches.reduce((n, b) => n + b.records.length, 0);
    if (batches.length > 0) await consumer.commit(batches.map((b) => ({ topic, partition: b.partition, offset: b.records[b.records.length - 1]!.offset + 1n })));
  }
  return got;
}

describe('consumer port (real broker)', () => {
  it('gets records produced after it joined an empty topic, and again after a pause', async () => {
    const producer = transport.producer();
    const consumer = await transport.consumer({ groupId: group, topics: [topic], maxRecords: 100, maxWaitMs: 200 });
    const send = (tag: string) => producer.send(Array.from({ length: 20 }, (_, i) => ({ topic, key: Buffer.from(`k${i}`), value: Buffer.from(`${tag}-${i}`) })));
    try {
      await new Promise((r) => setTimeout(r, 3000)); // idle: several empty fetches
      await send('first');
      expect(await drain(consumer, 20, 30_000)).toBe(20);
      await new Promise((r) => setTimeout(r, 2000)); // idle again, no wait pending
      await send('second');
      expect(await drain(consumer, 20, 30_000)).toBe(20);
    } finally {
      await consumer.close();
      await producer.close();
    }
  }, 90_000);
});
