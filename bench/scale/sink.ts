/**
 * Phase b: the sink's catch-up. clickhouse-sink is started as `grip services run clickhouse-sink`
 * on topics it has never read (no committed offsets) and the bench counts the rows of every table
 * until each holds every record produced to its topic; then the rows per second (from the first
 * row seen to the last table full) and the rows per table. After it stops, ClickHouse's background
 * merges of the inserted parts are waited for (bounded), so the queries that follow read settled
 * tables; the parts before and after are reported.
 */
import { TOPIC_TABLES, type SinkTopic } from '../../services/clickhouse-sink/rows.ts';
import { log, round, scalar, sleep, until, type ScaleContext } from './context.ts';
import { ServiceProcess } from './process.ts';

export async function sinkCatchUp(ctx: ScaleContext, port: number) {
  const db = ctx.config.clickhouse.database;
  const tables = (Object.entries(TOPIC_TABLES) as Array<[SinkTopic, string]>).map(([topic, table]) => ({ topic, table, expected: ctx.produced[topic] ?? 0 }));
  const totalRows = tables.reduce((s, t) => s + t.expected, 0);
  log(`clickhouse-sink: catching up ${totalRows.toLocaleString('en-US')} rows into ${tables.length} tables ...`);
  const sink = new ServiceProcess('clickhouse-sink', 'clickhouse-sink', ctx.env, port, ctx.logDir);
  const count = async (table: string) => {
    try {
      return await scalar(ctx.clickhouse, `SELECT count() FROM ${db}.${table}`);
    } catch {
      return 0; // the database or table is made by the sink's migrations at its start
    }
  };
  const doneAt: Record<string, number> = {};
  let firstRowAt: number | undefined;
  let lastProgress = performance.now();
  const counts: Record<string, number> = {};
  // rows per second, a catch-up from spawn to full tables at the worst this machine showed, plus 10 min
  const timeoutMs = 600_000 + (totalRows / 1000) * 1000;
  try {
    await until(
      'every table to hold every row',
      async () => {
        if (sink.exitInfo) throw new Error(`clickhouse-sink exited (${sink.exitInfo.signal ?? sink.exitInfo.code}); last lines:\n${sink.tail()}`);
        let all = true;
        for (const t of tables) {
          if (doneAt[t.table] !== undefined) continue;
          counts[t.table] = await count(t.table);
          if (counts[t.table]! > 0) firstRowAt ??= performance.now();
          if (counts[t.table]! >= t.expected) doneAt[t.table] = performance.now();
          else all = false;
        }
        if (performance.now() - lastProgress > 15_000) {
          lastProgress = performance.now();
          const rows = tables.reduce((s, t) => s + Math.min(t.expected, counts[t.table] ?? 0), 0);
          log(`  ${rows.toLocaleString('en-US')} of ${totalRows.toLocaleString('en-US')} rows (${round(rows / ((performance.now() - (firstRowAt ?? sink.startedAt)) / 1000), 0)} rows/s); sink RSS ${sink.memory().rss_mb} MB`);
        }
        return all;
      },
      timeoutMs,
      500,
      ctx.signal,
    );
  } catch (error) {
    await sink.stop();
    throw error;
  }
  const end = Math.max(...Object.values(doneAt));
  const memory = sink.memory();
  const stopped = await sink.stop();
  const fromFirstRow = (end - (firstRowAt ?? sink.startedAt)) / 1000;
  const fromSpawn = (end - sink.startedAt) / 1000;
  const figures = {
    rows: totalRows,
    seconds_from_spawn: round(fromSpawn),
    seconds_from_first_row: round(fromFirstRow),
    rows_per_s: round(totalRows / fromFirstRow, 0),
    rows_per_s_from_spawn: round(totalRows / fromSpawn, 0),
    sink_memory: memory,
    stop: stopped,
    errors_logged: sink.errors().slice(0, 5),
    tables: Object.fromEntries(tables.map((t) => [t.table, { topic: t.topic, rows: t.expected, full_after_s: round((doneAt[t.table]! - sink.startedAt) / 1000) }])),
  };
  log(`  sink: ${totalRows.toLocaleString('en-US')} rows in ${figures.seconds_from_first_row} s from the first row (${figures.rows_per_s} rows/s; ${figures.seconds_from_spawn} s from spawn); peak RSS ${memory.peak_rss_mb} MB`);
  return { ...figures, merges: await settleMerges(ctx) };
}

/** Waits (at most 5 minutes) until ClickHouse runs no merge in the database; the active parts per table before and after. */
export async function settleMerges(ctx: ScaleContext) {
  const db = ctx.config.clickhouse.database;
  const parts = async () =>
    Object.fromEntries(
      (await (await ctx.clickhouse.query({ query: `SELECT table, count() AS parts FROM system.parts WHERE database = '${db}' AND active GROUP BY table ORDER BY table`, format: 'JSONEachRow' })).json<{ table: string; parts: string }>()).map((r) => [r.table, Number(r.parts)]),
    );
  const before = await parts();
  const t0 = performance.now();
  let quiet = 0;
  let settled = false;
  while (performance.now() - t0 < 300_000) {
    const merging = await scalar(ctx.clickhouse, `SELECT count() FROM system.merges WHERE database = '${db}'`);
    quiet = merging === 0 ? quiet + 1 : 0;
    if (quiet >= 3) {
      settled = true;
      break;
    }
    await sleep(2000, ctx.signal);
  }
  const after = await parts();
  log(`  ClickHouse merges ${settled ? 'settled' : 'still running'} after ${round((performance.now() - t0) / 1000)} s; active parts ${JSON.stringify(after)}`);
  return { settled, seconds: round((performance.now() - t0) / 1000), active_parts_before: before, active_parts_after: after };
}
