/**
 * Fault: one row ClickHouse refuses inside a shared sink batch (issue 10). Forty-one combinations
 * are produced to grip.pairs in one request, so the sink inserts them as one batch; one of them
 * has a `relation` ClickHouse refuses. The sink's row mapper already turns away values out of a
 * column's range (an `unmappable_row` dead letter, before any insert), so to have ClickHouse itself
 * refuse a row the test narrows `relation` to FixedString(16) in its own database (the drift a
 * migration or hand-made change can cause) and sends a 40-character relation: Code 131, bad data.
 * Every good row must land, and only the bad one be dead-lettered, visible in `dead_letters` with
 * its stage and ClickHouse's reason; then every invariant holds.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Combination } from '../../schemas/generated/types.ts';
import { connectSerde, platformaticTransport } from '../../services/runtime/kafka/index.ts';
import { sqlString } from '../invariants/invariants.ts';
import { expectInvariants, faultScenario, rows, scalar, up, waitUntilIdle } from './helpers.ts';

const GOOD = 40;
const s = faultScenario('sink', ['seed: 1']);

function combination(i: number, relation: string): Combination {
  const kcs = [`kc-fault-${i}-a`, `kc-fault-${i}-b`];
  return {
    combo_id: `combo-fault-${i}`,
    key: kcs.join('|'),
    kc_ids: kcs,
    kc_names: [`concept ${i} a`, `concept ${i} b`],
    relation,
    hop: 1,
    witness: kcs,
    weight: 1,
    novel: true,
    lineage: { seed_ids: [`seed-fault-${i}`], kc_ids: kcs, combo_id: null, steps: [] },
    created_at: Date.now(),
  };
}

beforeAll(async () => {
  up(s.f, ['clickhouse-sink']);
  // The sink created the tables when it started.
  await s.ch.command({ query: `ALTER TABLE ${s.f.db}.pairs MODIFY COLUMN relation FixedString(16)` });
});

describe('a refused insert inside a shared sink batch', () => {
  it('lands every good row and dead-letters only the refused one, with its stage and reason', async () => {
    const { f, ch } = s;
    const serde = await connectSerde({ url: f.config.registry.url });
    const combos = Array.from({ length: GOOD + 1 }, (_, i) => combination(i, i === 17 ? 'r'.repeat(40) : '1-hop'));
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
    const letters = await rows<{ stage: string; reason: string; detail: string; message_key: string; source_topic: string }>(ch, `SELECT stage, reason, detail, message_key, source_topic FROM ${f.db}.dead_letters FINAL`);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ stage: 'clickhouse-sink:grip.pairs', message_key: bad.combo_id, source_topic: 'grip.pairs' });
    // ClickHouse refused it (not the mapper), and the letter says why.
    expect(letters[0]!.reason).not.toMatch(/^(|unknown|unmappable_row)$/);
    expect(`${letters[0]!.reason} ${letters[0]!.detail}`).toMatch(/FixedString|131/);
    expect(await scalar(ch, `SELECT count() FROM ${f.db}.dead_letters FINAL WHERE message_key = ${sqlString(bad.combo_id)}`)).toBe(1);
    await expectInvariants(ch, f);
  });
});
