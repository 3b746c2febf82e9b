/**
 * A log reader rebuilding state while the schema registry is unreachable (issue 10): it must wait
 * and end with every record applied, not skip the records it could not decode meanwhile. The
 * reader's registry sits behind a TCP proxy that the test cuts before the rebuild and restores a
 * few seconds later. The records are written with a newer schema version than the reader knows,
 * so decoding them needs a registry lookup (the reader's serde caches only what it registered).
 * Topic and subject are this run's own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register } from 'prom-client';
import { connectSerde } from '../../services/runtime/kafka/serde.ts';
import { readLog } from '../../services/runtime/kafka/log-reader.ts';
import { ensureTopics } from '../../services/runtime/kafka/topics.ts';
import type { AdminPort } from '../../services/runtime/kafka/transport.ts';
import type { Seed } from '../../schemas/generated/types.ts';
import { cleanup, config, produceSeeds, testSpec, transport } from './kafka-helpers.ts';
import { toggleableProxy } from './tcp-proxy.ts';

const run = Date.now();
const spec = testSpec('grip.seeds', `test.reader-registry-down.${run}`, 1);
/** The same record with one more field (a compatible newer version): another schema id. */
const newer = { ...spec, schema: { ...spec.schema, fields: [...spec.schema.fields, { name: 'note', type: 'string', default: '' }] } };
const registryUrl = new URL(config.registry.url);
const proxy = toggleableProxy({ host: registryUrl.hostname, port: Number(registryUrl.port) });
let admin: AdminPort;

beforeAll(async () => {
  admin = transport.admin();
  await ensureTopics(admin, [spec]);
});
afterAll(async () => {
  await proxy.down();
  await cleanup(admin, [spec.topic, spec.dlq], [], [spec.topic]);
  await admin.close();
});

async function retries(): Promise<number> {
  const m = await register.getSingleMetric('grip_log_reader_decode_retries_total')?.get();
  return m?.values.filter((v) => v.labels.topic === spec.topic).reduce((a, v) => a + v.value, 0) ?? 0;
}

describe('readLog with the schema registry down (real broker and registry)', () => {
  it('waits while the registry is unreachable and ends with every record applied', async () => {
    await connectSerde({ url: config.registry.url, topics: [spec] }); // version 1: what the reader knows
    const writer = await connectSerde({ url: config.registry.url, topics: [newer] });
    const sent = await produceSeeds(writer, spec.topic, 'reader', run, 30);

    const port = await proxy.up();
    const reader = await connectSerde({ url: `http://127.0.0.1:${port}${registryUrl.pathname}`, topics: [spec] });
    await proxy.down();
    const applied: string[] = [];
    const bad: unknown[] = [];
    const log = await readLog<Seed>({
      transport, serde: reader, topic: spec.topic, name: 'test-registry-down', log: () => {},
      backoff: { initialMs: 100, maxMs: 500, factor: 2 },
      onValue: (seed) => void applied.push(seed.seed_id), onBadRecord: (_r, e) => bad.push(e),
    });
    await new Promise((r) => setTimeout(r, 4000));
    expect(bad, 'records skipped while the registry was down').toEqual([]);
    expect(applied).toEqual([]); // nothing can be decoded yet
    expect(await retries()).toBeGreaterThan(0);
    await proxy.up();
    await log.caughtUp;
    await log.done;
    expect(bad).toEqual([]);
    expect(applied).toEqual(sent.map((s) => s.seed_id));
  }, 90_000);
});
