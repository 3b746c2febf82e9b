/** The pure parts of DLQ tools that finish: where a reader stops, where a replayed letter goes, how produce requests are cut. */
import { describe, expect, it } from 'vitest';
import { letterId, replayRecord, type DeadLetter } from '../../../cli/ops/dlq.ts';
import { dlqRecord, REPLAY_FOR_HEADER, replayedForAnotherStage } from '../../../services/runtime/kafka/dlq.ts';
import { pendingPartitions } from '../../../services/runtime/kafka/log-reader.ts';
import { MAX_PRODUCE_BYTES, recordBytes, splitByBytes, type InRecord, type OutRecord } from '../../../services/runtime/kafka/transport.ts';
import { runStage } from '../../../services/runtime/kafka/consumer.ts';
import { ok } from '../../../services/runtime/handler.ts';
import { fakeTransport, jsonSerde, record } from './fakes.ts';

const tpo = (partition: number, offset: bigint) => ({ topic: 't', partition, offset });

describe('log readers stop at the real end', () => {
  it('a partition whose records all expired (start = end > 0) has nothing to wait for', () => {
    const pending = pendingPartitions([tpo(0, 120n), tpo(1, 5n), tpo(2, 0n)], [tpo(0, 120n), tpo(1, 9n), tpo(2, 0n)]);
    expect([...pending]).toEqual([[1, 9n]]);
  });
});

describe('replayed letters go to their stage only', () => {
  const original: InRecord = { topic: 'grip.candidates', partition: 2, offset: 17n, key: Buffer.from('cand-1'), value: Buffer.from([1, 2, 3]), headers: { trace: Buffer.from('x') }, timestamp: 0n };
  const out = dlqRecord('grip.candidates.dlq', original, { stage: 'clickhouse-sink:grip.candidates', reason: 'bad_row', detail: 'd', now: 0 });
  const asRead: InRecord = { ...original, topic: out.topic, partition: 0, offset: 4n, headers: Object.fromEntries(Object.entries(out.headers!).map(([k, v]) => [k, Buffer.from(v)])) };
  const letter: DeadLetter = { dlq_topic: 'grip.candidates.dlq', partition: 0, offset: '4', stage: 'clickhouse-sink:grip.candidates', reason: 'bad_row', detail: 'd', source_topic: 'grip.candidates', key: 'cand-1', failed_at: '', bytes: 3 };

  it('a sink letter goes back to its topic with its original bytes and headers, marked for the sink', () => {
    const replayed = replayRecord(letter, asRead);
    expect(replayed).toMatchObject({ topic: 'grip.candidates', key: original.key, value: original.value });
    expect(Object.keys(replayed.headers!).sort()).toEqual(['grip-replayed-from', REPLAY_FOR_HEADER, 'trace'].sort());
    expect(replayed.headers![REPLAY_FOR_HEADER]).toBe('clickhouse-sink:grip.candidates');
    expect(letterId(letter)).toBe('grip.candidates.dlq@0:4');

    const seen = (headers: OutRecord['headers']): InRecord => ({ ...original, headers: Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k, Buffer.from(v)])) });
    // the judge, which also reads grip.candidates, skips it; the sink's reader of that topic takes it
    expect(replayedForAnotherStage(seen(replayed.headers), 'judge')).toBe(true);
    expect(replayedForAnotherStage(seen(replayed.headers), 'clickhouse-sink:grip.candidates')).toBe(false);
    // an ordinary record is every stage's
    expect(replayedForAnotherStage(original, 'judge')).toBe(false);
  });
});

describe('a stage skips letters replayed for another stage', () => {
  it('handles its own and ordinary records, commits past the others without handling them', async () => {
    const transport = fakeTransport();
    const handled: string[] = [];
    const h = await runStage<{ id: string }, { id: string }>({
      name: 'judge', inputTopic: 'in', outputTopic: 'out', dlqTopic: 'in.dlq', groupId: 'g', transport, serde: jsonSerde,
      handler: async (v) => (handled.push(v.id), ok(v)), handleSignals: false, lagIntervalMs: 0, log: () => undefined,
    });
    const forStage = (offset: number, stage?: string) => {
      const r = record('in', 0, offset, { id: `m${offset}` }, `m${offset}`);
      return stage ? { ...r, headers: { [REPLAY_FOR_HEADER]: Buffer.from(stage) } } : r;
    };
    transport.fakeConsumer.deliver([{ topic: 'in', partition: 0, records: [forStage(0), forStage(1, 'clickhouse-sink:grip.candidates'), forStage(2, 'judge')] }]);
    const t0 = Date.now();
    while (transport.fakeConsumer.commits.length === 0 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 2));
    expect(handled).toEqual(['m0', 'm2']);
    expect(transport.fakeConsumer.commits).toEqual([{ topic: 'in', partition: 0, offset: 3n }]);
    expect(h.stats()).toMatchObject({ in: 3, out: 2, dropped: 1 });
    await h.stop();
  });
});

describe('produce requests are split by bytes', () => {
  const rec = (bytes: number): OutRecord => ({ topic: 't', key: null, value: Buffer.alloc(bytes) });

  it('500 records of 19 KB: groups under the limit, order and count kept', () => {
    const records = Array.from({ length: 500 }, (_, i) => ({ ...rec(19_000), key: Buffer.from(String(i)) }));
    const groups = splitByBytes(records);
    expect(groups.length).toBeGreaterThan(10);
    for (const g of groups) expect(g.reduce((n, r) => n + recordBytes(r), 0)).toBeLessThanOrEqual(MAX_PRODUCE_BYTES);
    expect(groups.flat().map((r) => r.key!.toString())).toEqual(records.map((r) => r.key.toString()));
  });

  it('a record larger than the limit goes alone; small ones stay together', () => {
    expect(splitByBytes([rec(10), rec(2 * MAX_PRODUCE_BYTES), rec(10), rec(10)]).map((g) => g.length)).toEqual([1, 1, 2]);
    expect(splitByBytes([])).toEqual([]);
  });
});
