/**
 * The sink's stage as the service runs it (runStage with the batch handler and the per-message
 * handler of topic-stage.ts, a ClickHouseWriter), over an in-memory Kafka and a fake ClickHouse:
 * a ClickHouse that stays unreachable past the writer's own retries is waited out (the messages
 * retry, nothing is dead-lettered or committed before their rows landed); a refused row and an
 * unmappable message are the only dead letters.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { loadExamples } from '../../../schemas/catalog.ts';
import type { Candidate } from '../../../schemas/generated/types.ts';
import { SINK_STAGE_OPTIONS, topicStageHandlers } from '../../../services/clickhouse-sink/topic-stage.ts';
import { ClickHouseWriter } from '../../../services/clickhouse-sink/writer.ts';
import { runStage } from '../../../services/runtime/kafka/consumer.ts';
import { fakeTransport, jsonSerde, record } from '../kafka/fakes.ts';

const settings = { url: 'http://127.0.0.1:1', username: 'default', password: '', database: 'grip' };
const BAD_VALUE = () => new Error('Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected " before: x"}: (at row 1)\n, e.what() = DB::Exception');

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('clickhouse-sink stage (batch path, fake ClickHouse)', () => {
  it('waits out a ClickHouse down past the writer retries; dead-letters only the refused row and the unmappable message', async () => {
    const stored: Array<Record<string, unknown>> = [];
    let refusedConnections = 0;
    const state = { down: true };
    const client = {
      async insert(params: { values: Array<Record<string, unknown>> }) {
        if (state.down) {
          refusedConnections++;
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
        }
        if (params.values.some((v) => v.candidate_id === 'cand-refused')) throw BAD_VALUE();
        stored.push(...params.values);
      },
      async close() {},
    } as unknown as ClickHouseClient;
    // two attempts per insert: ClickHouse stays down long past them (SinkWriteError, many times)
    const writer = new ClickHouseWriter({ clickhouse: settings, client, maxBatchRows: 4, maxBatchWaitMs: 5, maxAttempts: 2, backoff: { initialMs: 1, maxMs: 2, factor: 2 }, log: () => undefined });
    const transport = fakeTransport();
    const example = loadExamples('grip.candidates')[0]!.value as Candidate;
    const values: unknown[] = Array.from({ length: 10 }, (_, i) => ({ ...example, candidate_id: `cand-${i}` }));
    values[3] = { ...example, candidate_id: 'cand-refused' };
    values[6] = { ...example, candidate_id: 'cand-unmappable', hop: -1 };
    const handle = await runStage<unknown, never>({
      name: 'clickhouse-sink:grip.candidates',
      inputTopic: 'grip.candidates',
      dlqTopic: 'grip.candidates.dlq',
      groupId: 'sink',
      ...SINK_STAGE_OPTIONS,
      ...topicStageHandlers(writer, 'grip.candidates'),
      backoff: { initialMs: 5, maxMs: 20, factor: 2 },
      transport,
      serde: jsonSerde,
      handleSignals: false,
      lagIntervalMs: 0,
      log: () => undefined,
    });
    transport.fakeConsumer.deliver([{ topic: 'grip.candidates', partition: 0, records: values.map((v, i) => record('grip.candidates', 0, i, v)) }]);
    await until(() => refusedConnections >= 12, 'several failed inserts');
    expect(transport.fakeConsumer.commits).toEqual([]);
    expect(transport.fakeProducer.sent.filter((r) => r.headers?.['dlq-reason'] !== 'unmappable_row')).toEqual([]);
    state.down = false;
    await until(() => transport.fakeConsumer.commits.length > 0 && transport.fakeConsumer.commits.at(-1)!.offset === 10n, 'the commit past every message');
    const dead = transport.fakeProducer.sent.filter((r) => r.topic === 'grip.candidates.dlq');
    expect(dead.map((r) => [JSON.parse(r.value.toString()).candidate_id, r.headers?.['dlq-reason']]).sort()).toEqual([
      ['cand-refused', 'clickhouse_rejected'],
      ['cand-unmappable', 'unmappable_row'],
    ]);
    expect(new Set(stored.map((r) => r.candidate_id))).toEqual(new Set(['cand-0', 'cand-1', 'cand-2', 'cand-4', 'cand-5', 'cand-7', 'cand-8', 'cand-9']));
    expect(handle.stats().retries).toBeGreaterThan(0);
    await handle.stop();
    await writer.close();
  });
});
