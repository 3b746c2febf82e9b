/**
 * Log readers never skip silently (issue 10): a record that does not decode because the schema
 * registry is briefly unreachable is decoded again until it works (state rebuilt without it would
 * be wrong for good); only truly undecodable bytes are skipped, loudly and counted.
 */
import { describe, expect, it } from 'vitest';
import { register } from 'prom-client';
import { RetriableError } from '../../../services/runtime/kafka/errors.ts';
import { readLog } from '../../../services/runtime/kafka/log-reader.ts';
import type { Serde } from '../../../services/runtime/kafka/serde.ts';
import type { Logger } from '../../../services/runtime/log.ts';
import { jsonSerde, MemoryLog } from './fakes.ts';

const TOPIC = 'grip.kc-registry';
const fast = { initialMs: 1, maxMs: 5, factor: 2 };

/** The registry-backed serde while the registry does not answer for the first `failures` decodes. */
function registryDownFor(failures: number): Serde & { attempts: number } {
  const serde = {
    ...jsonSerde,
    attempts: 0,
    async decode(topic: string, bytes: Buffer | null) {
      serde.attempts++;
      if (serde.attempts <= failures) throw new RetriableError(`${topic}: fetching schema id 1 failed: connect ECONNREFUSED 127.0.0.1:8081`);
      return jsonSerde.decode(topic, bytes);
    },
  };
  return serde;
}

async function metric(name: string): Promise<number> {
  const m = await register.getSingleMetric(name)?.get();
  return m?.values.filter((v) => v.labels.topic === TOPIC).reduce((a, v) => a + v.value, 0) ?? 0;
}

function logCollector() {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const log: Logger = (level, message, fields) => void lines.push({ level, message, fields });
  return { lines, log };
}

describe('readLog', () => {
  it('waits while the schema registry is unreachable during a rebuild and ends with every record applied', async () => {
    const broker = new MemoryLog();
    for (let i = 0; i < 20; i++) broker.append({ topic: TOPIC, key: null, value: Buffer.from(JSON.stringify({ n: i })) });
    const serde = registryDownFor(12);
    const applied: number[] = [];
    const { lines, log } = logCollector();
    const bad: unknown[] = [];
    const reader = await readLog<{ n: number }>({ transport: broker, serde, topic: TOPIC, name: 'test', log, backoff: fast, onValue: (v) => void applied.push(v.n), onBadRecord: (r) => bad.push(r) });
    await reader.caughtUp;
    await reader.done;
    expect(applied).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(bad).toEqual([]);
    expect(serde.attempts).toBe(32);
    expect(lines.filter((l) => l.level === 'warn').length).toBeGreaterThan(0);
  });

  it('skips a record of bad bytes, and only that one, with an error log line naming its position and a metric', async () => {
    const broker = new MemoryLog();
    broker.append({ topic: TOPIC, key: null, value: Buffer.from('{"n":0}') });
    broker.append({ topic: TOPIC, key: null, value: Buffer.from([0, 0, 0, 0, 9, 0xff]) });
    broker.append({ topic: TOPIC, key: null, value: Buffer.from('{"n":2}') });
    const before = await metric('grip_log_reader_bad_records_total');
    const applied: number[] = [];
    const bad: bigint[] = [];
    const { lines, log } = logCollector();
    const reader = await readLog<{ n: number }>({ transport: broker, serde: registryDownFor(2), topic: TOPIC, name: 'test', log, backoff: fast, onValue: (v) => void applied.push(v.n), onBadRecord: (r) => bad.push(r.offset) });
    await reader.done;
    expect(applied).toEqual([0, 2]);
    expect(bad).toEqual([1n]);
    expect((await metric('grip_log_reader_bad_records_total')) - before).toBe(1);
    expect(lines.find((l) => l.level === 'error')).toMatchObject({ fields: { topic: TOPIC, partition: 0, offset: 1n } });
  });

  it('a decoder that fails with an unknown error fails the reader instead of skipping', async () => {
    const broker = new MemoryLog();
    broker.append({ topic: TOPIC, key: null, value: Buffer.from('{"n":0}') });
    const reader = await readLog({
      transport: broker, serde: jsonSerde, topic: TOPIC, name: 'test', log: logCollector().log, onValue: () => {},
      decode: async () => {
        throw new TypeError('cannot read properties of undefined');
      },
    });
    await expect(reader.done).rejects.toThrow(/cannot read properties/);
  });

  it('a reader stopped while it waits for the registry stops', async () => {
    const broker = new MemoryLog();
    broker.append({ topic: TOPIC, key: null, value: Buffer.from('{"n":0}') });
    const reader = await readLog({ transport: broker, serde: registryDownFor(1e9), topic: TOPIC, name: 'test', log: logCollector().log, backoff: fast, onValue: () => {} });
    await new Promise((r) => setTimeout(r, 30));
    await reader.stop();
    expect(reader.count()).toBe(0);
  });
});
