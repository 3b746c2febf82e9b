/**
 * The sink against the real local ClickHouse (18.16 here): every example message lands in its
 * table and a redelivery does not duplicate it (count FINAL = distinct ids); rows read back as
 * written (DateTime in UTC, nullable arrays, 0/1 flags); the writer flushes by size and by time;
 * with ClickHouse unreachable it retries, then rejects with a clear error (nothing dropped
 * silently); a refused row costs only itself, not its batch; a configuration error (unknown
 * table, wrong password) stops inserts until it is fixed. Uses its own database
 * grip_it_<time>_<pid>, dropped afterwards.
 */
import net from 'node:net';
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExamples } from '../../schemas/catalog.ts';
import { loadConfig } from '../../services/runtime/config.ts';
import { migrate } from '../../services/clickhouse-sink/migrate.ts';
import { ClickHouseWriter, rowFor, sinkMessages, SinkRowRejectedError, SinkWriteError, TOPIC_TABLES, type SinkTopic } from '../../services/clickhouse-sink/index.ts';

const database = `grip_it_${Date.now()}_${process.pid}`;
const config = loadConfig({ ...process.env, CLICKHOUSE_DATABASE: database });
const admin = createClient({ url: config.clickhouse.url, username: config.clickhouse.username, password: config.clickhouse.password });
const TOPICS = Object.keys(TOPIC_TABLES) as SinkTopic[];
const ID_COLUMN: Record<string, string> = { seeds: 'seed_id', concepts: 'concepts_id', pairs: 'combo_id', candidates: 'candidate_id', verdicts: 'verdict_id' };

async function select<T>(query: string): Promise<T[]> {
  const rs = await admin.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}
const countFinal = async (table: string, where = '1') =>
  Number((await select<{ n: string }>(`SELECT count() AS n FROM ${database}.${table} FINAL WHERE ${where}`))[0]!.n);

beforeAll(async () => {
  await migrate(config.clickhouse);
});

afterAll(async () => {
  await admin.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await admin.close();
});

/** `n` distinct verdicts derived from the examples (distinct ids), for a load larger than two rows. */
function manyVerdicts(n: number, createdAt: number) {
  const examples = loadExamples('grip.verdicts').map((e) => e.value);
  return Array.from({ length: n }, (_, i) => ({ ...structuredClone(examples[i % examples.length]), verdict_id: `verdict-load-${i}`, created_at: createdAt }));
}

describe('clickhouse-sink (real ClickHouse)', () => {
  it('every example message, delivered twice, lands once per id (count FINAL = distinct ids)', async () => {
    const writer = new ClickHouseWriter({ clickhouse: config.clickhouse, maxBatchRows: 1000, maxBatchWaitMs: 100 });
    try {
      for (let delivery = 1; delivery <= 2; delivery++) {
        await Promise.all(TOPICS.map((topic) => sinkMessages(writer, topic, loadExamples(topic).map((e) => e.value))));
      }
    } finally {
      await writer.close();
    }
    for (const topic of TOPICS) {
      const table = TOPIC_TABLES[topic];
      const ids = new Set(loadExamples(topic).map((e) => (rowFor(topic, e.value).row as unknown as Record<string, unknown>)[ID_COLUMN[table]!]));
      const raw = Number((await select<{ n: string }>(`SELECT count() AS n FROM ${database}.${table}`))[0]!.n);
      expect(raw, `${table}: both deliveries were inserted`).toBe(2 * ids.size);
      expect(await countFinal(table), `${table} FINAL`).toBe(ids.size);
      const distinct = await select<{ n: string }>(`SELECT uniqExact(${ID_COLUMN[table]}) AS n FROM ${database}.${table}`);
      expect(Number(distinct[0]!.n)).toBe(ids.size);
    }
  });

  it('rows read back as written: UTC DateTime, nullable judge arrays, flags, lineage', async () => {
    const [verdict] = await select<Record<string, unknown>>(
      `SELECT verdict_id, accepted, novel, judge_solution_votes, judge_problem_scores, lineage_seed_ids, lineage_combo_id,
              toString(created_at) AS created, toUnixTimestamp(created_at) AS unix, toString(version) AS version
       FROM ${database}.verdicts FINAL WHERE verdict_id = 'verdict-1a2b3c4d5e6f708192a3b4c5'`,
    );
    expect(verdict).toEqual({
      verdict_id: 'verdict-1a2b3c4d5e6f708192a3b4c5',
      accepted: 0,
      novel: 1,
      judge_solution_votes: [0, null, null],
      judge_problem_scores: [0.95, 0.9, 0.94],
      lineage_seed_ids: ['seed-3f1c2a9b7d4e5f60'],
      lineage_combo_id: 'combo-0e1f2a3b4c5d6e7f8a9b0c1d',
      created: '2026-11-24 12:00:30',
      unix: 1795521630,
      version: '1795521630000',
    });
    const [seed] = await select<{ problem: string; source_id: string | null }>(`SELECT problem, source_id FROM ${database}.seeds FINAL`);
    expect(seed!.problem).toBe(loadExamples('grip.seeds')[0]!.value.problem); // backslashes and $ survive JSON transport
  });

  it('a redelivery with a later timestamp replaces the earlier row (version = message time)', async () => {
    const writer = new ClickHouseWriter({ clickhouse: config.clickhouse, maxBatchRows: 500, maxBatchWaitMs: 50 });
    try {
      await sinkMessages(writer, 'grip.verdicts', manyVerdicts(300, 1795521700000));
      const later = manyVerdicts(300, 1795521760000).map((v) => ({ ...v, reason: 'replayed' }));
      await sinkMessages(writer, 'grip.verdicts', later);
      await sinkMessages(writer, 'grip.verdicts', manyVerdicts(300, 1795521700000)); // a stale redelivery arriving last
    } finally {
      await writer.close();
    }
    expect(await countFinal('verdicts', "verdict_id LIKE 'verdict-load-%'")).toBe(300);
    expect(await countFinal('verdicts', "verdict_id LIKE 'verdict-load-%' AND reason = 'replayed'")).toBe(300);
  });

  it('flushes by size: a full batch is inserted long before the time limit', async () => {
    const writer = new ClickHouseWriter({ clickhouse: config.clickhouse, maxBatchRows: 50, maxBatchWaitMs: 60_000 });
    try {
      const rows = manyVerdicts(50, 1795521800000).map((v, i) => rowFor('grip.verdicts', { ...v, verdict_id: `verdict-size-${i}` }).row);
      const started = Date.now();
      await writer.add('verdicts', rows);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await countFinal('verdicts', "verdict_id LIKE 'verdict-size-%'")).toBe(50);
    } finally {
      await writer.close();
    }
  });

  it('flushes by time: a small batch waits maxBatchWaitMs, then is inserted', async () => {
    const writer = new ClickHouseWriter({ clickhouse: config.clickhouse, maxBatchRows: 1000, maxBatchWaitMs: 1000 });
    try {
      const row = rowFor('grip.verdicts', { ...manyVerdicts(1, 1795521900000)[0], verdict_id: 'verdict-time-0' }).row;
      const started = Date.now();
      const accepted = writer.add('verdicts', row);
      await new Promise((r) => setTimeout(r, 200));
      expect(await countFinal('verdicts', "verdict_id = 'verdict-time-0'"), 'not yet flushed at 200 ms').toBe(0);
      await accepted;
      expect(Date.now() - started).toBeGreaterThanOrEqual(990);
      expect(await countFinal('verdicts', "verdict_id = 'verdict-time-0'")).toBe(1);
    } finally {
      await writer.close();
    }
  });

  it('ClickHouse down (closed port): retries with backoff, then rejects with a clear error; the rows land once it is back', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const down = new ClickHouseWriter({
      clickhouse: { ...config.clickhouse, url: `http://127.0.0.1:${port}` },
      maxBatchRows: 10,
      maxAttempts: 4,
      backoff: { initialMs: 50, maxMs: 200, factor: 2 },
    });
    const rows = manyVerdicts(10, 1795522000000).map((v, i) => rowFor('grip.verdicts', { ...v, verdict_id: `verdict-down-${i}` }).row);
    const started = Date.now();
    const outcome = down.add('verdicts', rows);
    await expect(outcome).rejects.toThrowError(SinkWriteError);
    await expect(outcome).rejects.toThrowError(/insert of 10 rows into verdicts failed after 4 attempts \(still failing: ClickHouse unreachable or overloaded\): .*ECONNREFUSED/);
    // three backoff waits of at least 25, 50 and 100 ms (equal jitter: half fixed)
    expect(Date.now() - started).toBeGreaterThanOrEqual(175);
    await down.close().catch(() => {});

    // the caller kept the rows (it did not commit); a writer reaching the server lands them
    const up = new ClickHouseWriter({ clickhouse: config.clickhouse, maxBatchRows: 10 });
    try {
      await up.add('verdicts', rows);
    } finally {
      await up.close();
    }
    expect(await countFinal('verdicts', "verdict_id LIKE 'verdict-down-%'")).toBe(10);
  });

  it('a refused row inside a shared batch: only that row is rejected, every other row of the batch lands', async () => {
    const writer = new ClickHouseWriter({ clickhouse: config.clickhouse, maxBatchRows: 1000, maxBatchWaitMs: 60_000, log: () => {} });
    try {
      const rows = manyVerdicts(20, 1795522000000).map((v, i) => rowFor('grip.verdicts', { ...v, verdict_id: `verdict-shared-${i}` }).row as unknown as Record<string, unknown>);
      rows[13] = { ...rows[13], hop: 'not a number' }; // what a mapper bug would send: ClickHouse refuses it (Code 27 on 18.16)
      const outcomes = rows.map((row) => writer.add('verdicts', row).then(() => 'stored', (e: Error) => e));
      await writer.flush().catch(() => undefined);
      const settled = await Promise.all(outcomes);
      expect(settled[13]).toBeInstanceOf(SinkRowRejectedError);
      expect(String(settled[13])).toMatch(/Code: 27/);
      expect(settled.filter((o) => o === 'stored')).toHaveLength(19);
      expect(await countFinal('verdicts', "verdict_id LIKE 'verdict-shared-%'")).toBe(19);
    } finally {
      await writer.close();
    }
  });

  it('an unknown table is a stop, not bad data: rows stay pending with the reason, and land once the table exists', async () => {
    const writer = new ClickHouseWriter({ clickhouse: config.clickhouse, maxBatchRows: 2, stoppedBackoff: { initialMs: 50, maxMs: 200, factor: 2 }, log: () => {} });
    try {
      let settled = false;
      const outcome = writer.add('late_table', [{ id: 'a' }, { id: 'b' }]).then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 500));
      expect(settled).toBe(false);
      expect(writer.problem()).toMatch(/inserts into late_table stopped .*Code: 60/);
      await admin.command({ query: `CREATE TABLE ${database}.late_table (id String) ENGINE = MergeTree ORDER BY id` });
      await outcome;
      expect(writer.problem()).toBeNull();
      expect(Number((await select<{ n: string }>(`SELECT count() AS n FROM ${database}.late_table`))[0]!.n)).toBe(2);
    } finally {
      await writer.close();
    }
  });

  it('a wrong password is a stop too (18.16: Code 193), reported by problem()', async () => {
    const writer = new ClickHouseWriter({ clickhouse: { ...config.clickhouse, password: 'certainly-wrong' }, maxBatchRows: 1, stoppedBackoff: { initialMs: 50, maxMs: 100, factor: 2 }, log: () => {} });
    const outcome = writer.add('verdicts', { verdict_id: 'never' }).then(() => 'stored', (e: Error) => e);
    await new Promise((r) => setTimeout(r, 400));
    expect(writer.problem()).toMatch(/Code: 19[2-4]|Authentication failed/);
    writer.interrupt();
    expect(await outcome).toBeInstanceOf(Error);
    await writer.close().catch(() => undefined);
  });
});
