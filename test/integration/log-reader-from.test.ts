/**
 * A log reader started from a checkpoint's positions (per partition, the next offset to read) on
 * the real broker: it hands over exactly the records from there on, on every partition, and a
 * partition the positions do not name is read from its first record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSerde } from '../../services/runtime/kafka/serde.ts';
import { readLog } from '../../services/runtime/kafka/log-reader.ts';
import { ensureTopics } from '../../services/runtime/kafka/topics.ts';
import type { AdminPort, InRecord } from '../../services/runtime/kafka/transport.ts';
import type { Seed } from '../../schemas/generated/types.ts';
import { cleanup, config, produceSeeds, testSpec, transport } from './kafka-helpers.ts';

const run = Date.now();
const spec = testSpec('grip.seeds', `test.reader-from.${run}`, 3);
let admin: AdminPort;

beforeAll(async () => {
  admin = transport.admin();
  await ensureTopics(admin, [spec]);
});
afterAll(async () => {
  await cleanup(admin, [spec.topic, spec.dlq], [], [spec.topic]);
  await admin.close();
});

describe('readLog from given positions (real broker)', () => {
  it('reads each named partition from its position and the others whole', async () => {
    const serde = await connectSerde({ url: config.registry.url, topics: [spec] });
    await produceSeeds(serde, spec.topic, 'from', run, 60);
    const all: InRecord[] = [];
    await (await readLog<Seed>({ transport, serde, topic: spec.topic, name: 'test-from-all', log: () => {}, onValue: (_s, r) => void all.push(r) })).done;
    expect(all).toHaveLength(60);
    const ends = await admin.endOffsets([spec.topic]);
    const busy = ends.filter((e) => e.offset >= 4n).map((e) => e.partition);
    expect(busy.length).toBeGreaterThanOrEqual(2);
    // the first busy partition from its middle, the second at its end, the rest not named
    const from = new Map<number, bigint>([
      [busy[0]!, ends.find((e) => e.partition === busy[0])!.offset / 2n],
      [busy[1]!, ends.find((e) => e.partition === busy[1])!.offset],
    ]);
    const expected = all.filter((r) => r.offset >= (from.get(r.partition) ?? 0n)).map((r) => `${r.partition}:${r.offset}`).sort();
    const got: string[] = [];
    const reader = await readLog<Seed>({ transport, serde, topic: spec.topic, name: 'test-from-positions', from, log: () => {}, onValue: (_s, r) => void got.push(`${r.partition}:${r.offset}`) });
    await reader.done;
    expect(got.sort()).toEqual(expected);
    expect(got.length).toBeLessThan(60);
  });
});
