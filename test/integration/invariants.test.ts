/**
 * The invariant queries (test/invariants) can fail: on a scratch database of the real local
 * ClickHouse (18.16 here), a consistent set of rows passes every check; then violating rows are
 * inserted one kind at a time, and each check must report exactly its violation. Uniqueness
 * violations use rows with DIFFERENT ids (same combination, two candidate ids...), which FINAL
 * cannot hide. The database grip_inv_<time>_<pid> is dropped afterwards.
 */
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExamples } from '../../schemas/catalog.ts';
import type { Candidate, Seed, SeedConcepts, Verdict } from '../../schemas/generated/types.ts';
import { migrate } from '../../services/clickhouse-sink/migrate.ts';
import { deadLetterRow, rowFor, type SinkTopic } from '../../services/clickhouse-sink/rows.ts';
import { loadConfig } from '../../services/runtime/config.ts';
import { dlqRecord } from '../../services/runtime/kafka/dlq.ts';
import { acceptedVerdicts, checkInvariants, describeViolations, invariantChecks, lostAccepted, missingDeadLetters, readDeadLetterRecords, deadLetterRecordOf } from '../invariants/invariants.ts';
import { jsonSerde, MemoryLog } from '../unit/kafka/fakes.ts';

const database = `grip_inv_${Date.now()}_${process.pid}`;
const config = loadConfig({ ...process.env, CLICKHOUSE_DATABASE: database });
const ch = createClient({ url: config.clickhouse.url, username: config.clickhouse.username, password: config.clickhouse.password });

const seed: Seed = loadExamples('grip.seeds')[0].value;
const concepts: SeedConcepts = loadExamples('grip.concepts')[0].value;
const candidate: Candidate = loadExamples('grip.candidates')[0].value;
const verdicts: Verdict[] = loadExamples('grip.verdicts').map((e) => e.value);

async function insert<T extends SinkTopic>(topic: T, values: unknown[]): Promise<void> {
  const mapped = values.map((v) => rowFor(topic, v as never));
  await ch.insert({ table: `${database}.${mapped[0]!.table}`, values: mapped.map((m) => m.row), format: 'JSONEachRow' });
}

async function insertDeadLetter(stage: string, reason: string, offset: number, key: string): Promise<void> {
  const original = { topic: 'grip.seeds', partition: 0, offset: BigInt(offset), key: Buffer.from(key), value: Buffer.from('{}'), headers: {}, timestamp: 0n };
  const out = dlqRecord('grip.seeds.dlq', original, { stage, reason, detail: 'x', now: 1_795_521_600_000 });
  const row = deadLetterRow({ dlqTopic: out.topic, key: out.key, value: out.value, headers: out.headers as Record<string, string>, timestamp: 0 });
  await ch.insert({ table: `${database}.dead_letters`, values: [row], format: 'JSONEachRow' });
}

const reported = async () => (await checkInvariants(ch, database)).map((v) => v.check).sort();

beforeAll(async () => {
  await migrate(config.clickhouse);
  await insert('grip.seeds', [seed]);
  await insert('grip.concepts', [concepts]);
  await insert('grip.pairs', loadExamples('grip.pairs').map((e) => e.value));
  await insert('grip.candidates', [candidate]);
  await insert('grip.verdicts', verdicts);
  // A seed the extractor dead-lettered, with a reason: accounted for.
  await insert('grip.seeds', [{ ...seed, seed_id: 'seed-dead-lettered', problem: 'Another problem, refused by the extractor.' }]);
  await insertDeadLetter('concept-extractor', 'llm_invalid_answer', 5, 'seed-dead-lettered');
});

afterAll(async () => {
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await ch.close();
});

describe('invariant queries (real ClickHouse)', () => {
  it('a consistent set of rows passes every check', async () => {
    expect(invariantChecks().map((c) => c.name)).toEqual([
      'seed_stored_once', 'seed_accounted', 'one_concepts_per_seed_and_version', 'one_candidate_per_combo_and_version',
      'one_verdict_per_candidate_and_config', 'no_self_duplicate', 'accepted_then_rejected', 'dead_letter_without_reason',
    ]);
    const violations = await checkInvariants(ch, database);
    expect(violations, describeViolations(violations)).toEqual([]);
  });

  it('each check reports its violation, and only it', async () => {
    const expected: string[] = [];
    const step = async (check: string, violate: () => Promise<void>) => {
      await violate();
      expected.push(check);
      expect(await reported(), `after violating ${check}`).toEqual([...expected].sort());
    };
    await step('seed_stored_once', async () => {
      // The same seed under a second id (with its own concepts, so it is accounted for).
      await insert('grip.seeds', [{ ...seed, seed_id: 'seed-second-id' }]);
      await insert('grip.concepts', [{ ...concepts, seed_id: 'seed-second-id', concepts_id: 'concepts-second-id' }]);
    });
    await step('seed_accounted', () => insert('grip.seeds', [{ ...seed, seed_id: 'seed-lost', problem: 'A seed nobody processed.' }]));
    await step('one_concepts_per_seed_and_version', () => insert('grip.concepts', [{ ...concepts, concepts_id: 'concepts-again', created_at: concepts.created_at + 1000 }]));
    await step('one_candidate_per_combo_and_version', () => insert('grip.candidates', [{ ...candidate, candidate_id: 'cand-second-for-combo', problem: 'Another wording of the same combination.' }]));
    await step('one_verdict_per_candidate_and_config', () => insert('grip.verdicts', [{ ...verdicts[1]!, verdict_id: 'verdict-second-for-candidate' }]));
    await step('no_self_duplicate', () =>
      insert('grip.verdicts', [{ ...verdicts[0]!, verdict_id: 'verdict-self', candidate_id: 'cand-self', accepted: false, reason: 'duplicate', duplicate_of: 'verdict-self' }]),
    );
    await step('accepted_then_rejected', async () => {
      const accepted = { ...verdicts[0]!, verdict_id: 'verdict-flipped', candidate_id: 'cand-flipped', accepted: true, reason: 'accepted', duplicate_of: null };
      await insert('grip.verdicts', [accepted]);
      await insert('grip.verdicts', [{ ...accepted, accepted: false, reason: 'duplicate', duplicate_of: verdicts[0]!.verdict_id, created_at: accepted.created_at + 5000 }]);
    });
    await step('dead_letter_without_reason', () => insertDeadLetter('concept-extractor', '', 6, 'seed-x'));
  });

  it('an accepted verdict lost across a restart is reported against the snapshot taken before', async () => {
    const before = await acceptedVerdicts(ch, database);
    const accepted = verdicts.find((v) => v.accepted)!;
    expect(before).toContain(accepted.verdict_id);
    expect(await lostAccepted(ch, database, before)).toEqual([]);
    // After the "restart": the same id rewritten as a rejection with a later timestamp.
    await insert('grip.verdicts', [{ ...accepted, accepted: false, reason: 'duplicate', duplicate_of: 'verdict-other', created_at: accepted.created_at + 60_000 }]);
    const lost = await lostAccepted(ch, database, before);
    expect(lost).toEqual([{ check: 'accepted_not_lost', description: expect.any(String), rows: [{ verdict_id: accepted.verdict_id }] }]);
  });

  it('a record of a DLQ topic with no row in dead_letters is reported', async () => {
    const broker = new MemoryLog();
    const stored = dlqRecord('grip.seeds.dlq', { topic: 'grip.seeds', partition: 0, offset: 5n, key: Buffer.from('seed-dead-lettered'), value: Buffer.from('{}'), headers: {}, timestamp: 0n }, { stage: 'concept-extractor', reason: 'llm_invalid_answer', detail: 'x', now: 0 });
    const lostOne = dlqRecord('grip.seeds.dlq', { topic: 'grip.seeds', partition: 0, offset: 99n, key: Buffer.from('seed-99'), value: Buffer.from('{}'), headers: {}, timestamp: 0n }, { stage: 'concept-extractor', reason: 'llm_invalid_answer', detail: 'x', now: 0 });
    broker.append(stored);
    broker.append(lostOne);
    const records = await readDeadLetterRecords(broker, jsonSerde);
    expect(records.map((r) => r.offset)).toEqual(['0', '1']);
    const missing = await missingDeadLetters(ch, database, records);
    expect(missing).toHaveLength(1);
    expect(missing[0]!.rows).toEqual([{ dlq_topic: 'grip.seeds.dlq', partition: 0, offset: '1', dlq_id: 'dlq-concept-extractor-grip.seeds-0-99' }]);
    expect(deadLetterRecordOf(broker.records('grip.seeds.dlq')[0]!).dlq_id).toBe('dlq-concept-extractor-grip.seeds-0-5');
  });
});
