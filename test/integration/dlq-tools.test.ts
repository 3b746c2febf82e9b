/**
 * DLQ tools that finish, on the real broker, with topics of this test's own:
 * - a DLQ whose records all expired (deleted with DeleteRecords, what retention does: start offset =
 *   end offset > 0) is read to its end at once, by readLog and by `grip dlq list`'s reader;
 * - 500 records of 19k characters sent in one send() all land (Kafka refuses a 9.5 MB request);
 * - `grip dlq replay` sends a letter to its source topic for its stage only, and only once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDeadLetters, replayDeadLetters } from '../../cli/ops/dlq.ts';
import { loadConfig } from '../../services/runtime/config.ts';
import { dlqRecord, REPLAY_FOR_HEADER } from '../../services/runtime/kafka/dlq.ts';
import { readLog } from '../../services/runtime/kafka/log-reader.ts';
import type { AdminPort, InRecord } from '../../services/runtime/kafka/transport.ts';
import { cleanup, readRecords, transport } from './kafka-helpers.ts';

const run = Date.now();
const source = `test.i11.source.${run}`;
const expired = `test.i11.expired.${run}.dlq`;
const letters = `test.i11.letters.${run}.dlq`;
const big = `test.i11.big.${run}`;
let admin: AdminPort;
const noSerde = {} as never; // the readers here decode nothing

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not return within ${ms} ms`)), ms))]);

beforeAll(async () => {
  admin = transport.admin();
  await admin.createTopics([source, expired, letters, big].map((topic) => ({ topic, partitions: 2, config: {} })));
});
afterAll(async () => {
  await cleanup(admin, [source, expired, letters, big], [], []);
  await admin.close();
});

describe('DLQ tools that finish (real broker)', () => {
  it('a DLQ whose records all expired: readLog and grip dlq list return at once, with nothing', async () => {
    const producer = transport.producer();
    await producer.send(Array.from({ length: 6 }, (_, i) => ({ topic: expired, key: Buffer.from(`k${i}`), value: Buffer.from(`letter ${i}`) })));
    await producer.close();
    const ends = await admin.endOffsets([expired]);
    await admin.deleteRecords(expired, ends.map((e) => ({ partition: e.partition, offset: e.offset })));
    const starts = await admin.startOffsets([expired]);
    expect(starts.map((s) => s.offset)).toEqual(ends.map((e) => e.offset));
    expect(ends.reduce((n, e) => n + e.offset, 0n)).toBe(6n);

    const seen: InRecord[] = [];
    const reader = await readLog<InRecord>({ transport, serde: noSerde, topic: expired, name: 'i11-expired', decode: async (r) => r, onValue: (r) => void seen.push(r) });
    await within(reader.done, 15_000, 'readLog of an expired DLQ');
    expect(seen).toEqual([]);
    const listed = await within(listDeadLetters(loadConfig(), { topics: [{ dlq: expired, topic: source }] }), 15_000, 'grip dlq list');
    expect(listed).toEqual([]);
  }, 60_000);

  it('500 records of 19k characters in one send all land (produce requests split by bytes)', async () => {
    const producer = transport.producer();
    const text = (i: number) => `${i}:${'x'.repeat(19_000)}`;
    await producer.send(Array.from({ length: 500 }, (_, i) => ({ topic: big, key: Buffer.from(`seed-${i}`), value: Buffer.from(text(i)) })));
    await producer.close();
    const records = await readRecords(big, 500, 60_000);
    expect(new Set(records.map((r) => r.key!.toString())).size).toBe(500);
    expect(records.every((r) => r.value!.length >= 19_000)).toBe(true);
  }, 120_000);

  it('replay sends a letter back to its topic for its stage only, and only once', async () => {
    const original: InRecord = { topic: source, partition: 0, offset: 3n, key: Buffer.from('cand-1'), value: Buffer.from('original bytes'), headers: {}, timestamp: 0n };
    const producer = transport.producer();
    await producer.send([dlqRecord(letters, original, { stage: 'clickhouse-sink:grip.candidates', reason: 'bad_row', detail: 'test', now: run })]);
    await producer.close();
    const config = { ...loadConfig(), services: { ...loadConfig().services, stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'grip-dlq-')) } };
    const filter = { topics: [{ dlq: letters, topic: source }] };

    expect(await replayDeadLetters(config, filter)).toMatchObject({ replayed: 1, skipped: 0 });
    const [back] = await readRecords(source, 1);
    expect(back!.value!.toString()).toBe('original bytes');
    expect(back!.headers[REPLAY_FOR_HEADER]!.toString()).toBe('clickhouse-sink:grip.candidates');

    expect(await replayDeadLetters(config, filter)).toMatchObject({ replayed: 0, skipped: 1 });
    expect(await replayDeadLetters(config, { ...filter, again: true })).toMatchObject({ replayed: 1, skipped: 0 });
    const ends = await admin.endOffsets([source]);
    expect(ends.reduce((n, e) => n + e.offset, 0n)).toBe(2n);
  }, 60_000);
});
