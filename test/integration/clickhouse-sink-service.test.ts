/**
 * The clickhouse-sink service with ClickHouse going away and coming back: while it is down the
 * sink retries and commits nothing; once it is back every row lands, once. ClickHouse sits behind
 * a TCP proxy the test can close and reopen; the rows go to a database of the test's own.
 */
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExamples } from '../../schemas/catalog.ts';
import { loadConfig } from '../../services/runtime/config.ts';
import { sinkGroupOf } from '../../services/runtime/stage.ts';
import { computeLag, connectSerde, ensureTopics, platformaticTransport } from '../../services/runtime/kafka/index.ts';
import { runService, type ServiceHandle } from '../../services/runtime/service.ts';
import { toggleableProxy } from './tcp-proxy.ts';

const base = loadConfig();
const upstream = new URL(base.clickhouse.url);
const database = `grip_it_sinksvc_${Date.now()}`;
const admin = createClient({ url: base.clickhouse.url, username: base.clickhouse.username, password: base.clickhouse.password });

const proxy = toggleableProxy({ host: upstream.hostname, port: Number(upstream.port || 8123) });
let sink: ServiceHandle | undefined;

beforeAll(async () => {
  const port = await proxy.up();
  sink = await runService('clickhouse-sink', {
    handleSignals: false,
    env: { ...process.env, CLICKHOUSE_URL: `http://127.0.0.1:${port}`, CLICKHOUSE_DATABASE: database, GRIP_CLICKHOUSE_SINK_PORT: String(19480 + (process.pid % 10)) },
  });
}, 120_000);

afterAll(async () => {
  await proxy.up();
  await sink?.stop();
  await proxy.down();
  await admin.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await admin.close();
});

async function count(query: string): Promise<number> {
  const rs = await admin.query({ query, format: 'JSONEachRow' });
  return Number(Object.values((await rs.json<Record<string, string>>())[0]!)[0]);
}

describe('clickhouse-sink service (real Kafka, ClickHouse behind a proxy)', () => {
  it('retries while ClickHouse is down, commits nothing, and lands every row once when it is back', async () => {
    const transport = platformaticTransport(base.kafka);
    const kafkaAdmin = transport.admin();
    await ensureTopics(kafkaAdmin);
    const serde = await connectSerde({ url: base.registry.url });
    const run = Date.now().toString(36);
    const [example] = loadExamples('grip.seeds');
    const seeds = Array.from({ length: 5 }, (_, i) => ({ ...example!.value, seed_id: `seed-sinksvc-${run}-${i}`, ingested_at: Date.now() }));
    const ids = seeds.map((s) => `'${s.seed_id}'`).join(',');
    const lag = async () => {
      const [end, committed] = await Promise.all([kafkaAdmin.endOffsets(['grip.seeds']), kafkaAdmin.groupOffsets(sinkGroupOf('grip.seeds'), ['grip.seeds'])]);
      return Number(computeLag(end, committed).total);
    };
    const producer = transport.producer();
    try {
      // Whatever the topic held before is stored first, so that the lag below is ours alone.
      for (let i = 0; i < 120 && (await lag()) > 0; i++) await new Promise((r) => setTimeout(r, 500));
      expect(await lag()).toBe(0);

      await proxy.down();
      await producer.send(await Promise.all(seeds.map(async (s) => ({ topic: 'grip.seeds', key: Buffer.from(s.seed_id), value: await serde.encode('grip.seeds', s) }))));
      await new Promise((r) => setTimeout(r, 8000));
      expect(await lag()).toBe(seeds.length); // nothing committed while ClickHouse is unreachable
      expect(await count(`SELECT count() FROM ${database}.seeds WHERE seed_id IN (${ids})`)).toBe(0);
      // Alive, not ready: it says what it waits on and since when (a crash would fix nothing).
      const health = await fetch(`${sink!.url}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: 'waiting', dependency: 'clickhouse', since: expect.any(String) });
      expect((await fetch(`${sink!.url}/livez`)).status).toBe(200);

      await proxy.up();
      for (let i = 0; i < 120 && (await lag()) > 0; i++) await new Promise((r) => setTimeout(r, 500));
      expect(await lag()).toBe(0);
      expect(await count(`SELECT count() FROM ${database}.seeds WHERE seed_id IN (${ids})`)).toBe(seeds.length);
      expect(await count(`SELECT count() FROM ${database}.seeds FINAL WHERE seed_id IN (${ids})`)).toBe(seeds.length);
    } finally {
      await producer.close();
      await kafkaAdmin.close();
    }
  }, 180_000);
});
