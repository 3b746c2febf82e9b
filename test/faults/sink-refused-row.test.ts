/**
 * Fault: one row ClickHouse refuses inside a shared sink batch (issue 10). Forty combinations are
 * produced to grip.pairs in one request, one of them with a hop of -1 (valid Avro `int`, refused by
 * the `UInt8` column: Code 72). Every good row must land, and only the bad one be dead-lettered,
 * visible in `dead_letters` with its stage and reason; then every invariant holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Combination } from '../../schemas/generated/types.ts';
import { connectSerde, platformaticTransport } from '../../services/runtime/kafka/index.ts';
import { sqlString } from '../invariants/invariants.ts';
import type { FakeOpenAI } from '../fixtures/openai-server.ts';
import { assertOwnedStack, clickhouse, expectInvariants, faultEnv, grip, resetPipeline, rows, scalar, startFakeModel, up, waitUntilIdle, type FaultEnv } from './helpers.ts';

const GOOD = 40;
let model: FakeOpenAI;
let f: FaultEnv;
let ch: ClickHouseClient;

function combination(i: number, hop: number): Combination {
  const kcs = [`kc-fault-${i}-a`, `kc-fault-${i}-b`];
  return {
    combo_id: `combo-fault-${i}`,
    key: kcs.join('|'),
    kc_ids: kcs,
    kc_names: [`concept ${i} a`, `concept ${i} b`],
    relation: '1-hop',
    hop,
    witness: kcs,
    weight: 1,
    novel: true,
    lineage: { seed_ids: [`seed-fault-${i}`], kc_ids: kcs, combo_id: null, steps: [] },
    created_at: Date.now(),
  };
}

beforeAll(async () => {
  assertOwnedStack();
  model = await startFakeModel();
  f = faultEnv('sink', model, ['seed: 1']);
  await resetPipeline(f.config);
  ch = clickhouse(f.config);
  up(f, ['clickhouse-sink']);
});

afterAll(async () => {
  if (f) grip(['services', 'down'], f.env, 120_000);
  await ch?.close();
  await model?.close();
});

describe('a refused insert inside a shared sink batch', () => {
  it('lands every good row and dead-letters only the refused one, with its stage and reason', async () => {
    const serde = await connectSerde({ url: f.config.registry.url });
    const combos = Array.from({ length: GOOD + 1 }, (_, i) => combination(i, i === 17 ? -1 : 1));
    const bad = combos[17]!;
    const producer = platformaticTransport(f.config.kafka).producer();
    try {
      const records = await Promise.all(combos.map(async (c) => ({ topic: 'grip.pairs', key: Buffer.from(c.combo_id), value: await serde.encode('grip.pairs', c) })));
      await producer.send(records);
    } finally {
      await producer.close();
    }
    await waitUntilIdle(f.config, 120_000, ['clickhouse-sink']);

    const stored = await rows<{ combo_id: string }>(ch, `SELECT combo_id FROM ${f.db}.pairs FINAL ORDER BY combo_id`);
    expect(stored.map((r) => r.combo_id).sort()).toEqual(combos.filter((c) => c !== bad).map((c) => c.combo_id).sort());
    const letters = await rows<{ stage: string; reason: string; message_key: string; source_topic: string }>(ch, `SELECT stage, reason, message_key, source_topic FROM ${f.db}.dead_letters FINAL`);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ stage: 'clickhouse-sink:grip.pairs', message_key: bad.combo_id, source_topic: 'grip.pairs' });
    expect(letters[0]!.reason).not.toMatch(/^(|unknown)$/);
    expect(await scalar(ch, `SELECT count() FROM ${f.db}.dead_letters FINAL WHERE message_key = ${sqlString(bad.combo_id)}`)).toBe(1);
    await expectInvariants(ch, f);
  });
});
