/**
 * One refused insert must not lose a batch (issue 10): bad rows are isolated by splitting the batch
 * and only they are rejected; a configuration error (auth, missing table or column) is a stop, not
 * bad data: nothing is rejected (so nothing is dead-lettered or committed), the writer says why,
 * and it retries until the configuration works. Error texts are ClickHouse 18.16's, as plain
 * Errors without `.code` (what @clickhouse/client throws for them).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { insertErrorClass, ClickHouseWriter, SinkRowRejectedError, SinkWriteError } from '../../../services/clickhouse-sink/writer.ts';

const settings = { url: 'http://127.0.0.1:1', username: 'default', password: '', database: 'grip' };
const fast = { initialMs: 1, maxMs: 5, factor: 2 };
const BAD_VALUE = () => new Error('Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected " before: x"}: (while read the value of key hop): (at row 3)\n, e.what() = DB::Exception');
const WRONG_PASSWORD = () => new Error('Code: 193, e.displayText() = DB::Exception: Wrong password for user default, e.what() = DB::Exception');

/** A ClickHouse that refuses any insert holding a row with `bad`, and everything while `refuseAll` is set. */
function fakeClickHouse() {
  const stored: Array<Record<string, unknown>> = [];
  let inserts = 0;
  const state = { refuseAll: null as null | (() => Error) };
  const client = {
    async insert(params: { values: Array<Record<string, unknown>> }) {
      inserts++;
      if (state.refuseAll) throw state.refuseAll();
      if (params.values.some((v) => v.bad)) throw BAD_VALUE();
      stored.push(...params.values);
    },
    async close() {},
  } as unknown as ClickHouseClient;
  return { client, stored, state, inserts: () => inserts };
}

const settle = (p: Promise<unknown>) => p.then(() => 'stored', (e: Error) => e);

describe('insertErrorClass (ClickHouse 18.16 texts, no .code)', () => {
  it('tells configuration from bad data', () => {
    expect(insertErrorClass(WRONG_PASSWORD())).toBe('configuration');
    expect(insertErrorClass(new Error('Code: 192, e.displayText() = DB::Exception: Unknown user nobody, e.what() = DB::Exception'))).toBe('configuration');
    expect(insertErrorClass(new Error("Code: 60, e.displayText() = DB::Exception: Table grip.nope doesn't exist., e.what() = DB::Exception"))).toBe('configuration');
    expect(insertErrorClass(new Error("Code: 81, e.displayText() = DB::Exception: Database nodb doesn't exist, e.what() = DB::Exception"))).toBe('configuration');
    expect(insertErrorClass(new Error('Code: 117, e.displayText() = DB::Exception: Unknown field found while parsing JSONEachRow format: zz: (at row 1)\n, e.what() = DB::Exception'))).toBe('configuration');
    expect(insertErrorClass(new Error('Code: 516. DB::Exception: default: Authentication failed: password is incorrect. (AUTHENTICATION_FAILED)'))).toBe('configuration');
    expect(insertErrorClass(BAD_VALUE())).toBe('bad_data');
    expect(insertErrorClass(new Error('Code: 41, e.displayText() = DB::Exception: Cannot parse datetime: (while read the value of key d): (at row 1)\n, e.what() = DB::Exception'))).toBe('bad_data');
    expect(insertErrorClass(new Error('Code: 9999, e.displayText() = DB::Exception: something new'))).toBe('unclassified');
    expect(insertErrorClass(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe('retriable');
  });
});

describe('ClickHouseWriter: a refused row inside a shared batch', () => {
  it('stores every other row of the batch and rejects only the bad ones (each add settles on its own rows)', async () => {
    const ch = fakeClickHouse();
    const writer = new ClickHouseWriter({ clickhouse: settings, client: ch.client, maxBatchRows: 1000, maxBatchWaitMs: 60_000, log: () => {} });
    const adds = Array.from({ length: 40 }, (_, i) => writer.add('candidates', { i, bad: i === 7 || i === 30 }));
    const several = writer.add('candidates', [{ i: 100 }, { i: 101, bad: true }, { i: 102 }]);
    const outcomes = Promise.all([...adds, several].map(settle));
    await writer.flush().catch(() => undefined);
    const settled = await outcomes;
    expect(settled.filter((o) => o === 'stored')).toHaveLength(38);
    for (const i of [7, 30, 40]) expect(settled[i]).toBeInstanceOf(SinkRowRejectedError);
    expect(ch.stored.map((r) => r.i).sort((a, b) => Number(a) - Number(b))).toEqual([...Array.from({ length: 40 }, (_, i) => i).filter((i) => i !== 7 && i !== 30), 100, 102]);
    // Bisection, not one insert per row.
    expect(ch.inserts()).toBeLessThan(43);
    await writer.close();
  });
});

describe('ClickHouseWriter.addEach: one call, one outcome per row', () => {
  it('settles once all its rows are settled: null for stored rows, the refusal for each bad one', async () => {
    const ch = fakeClickHouse();
    const writer = new ClickHouseWriter({ clickhouse: settings, client: ch.client, maxBatchRows: 8, maxBatchWaitMs: 60_000, log: () => {} });
    // 20 rows over three inserts (8, 8, 4): bad rows in two of them
    const outcomes = writer.addEach('candidates', Array.from({ length: 20 }, (_, i) => ({ i, bad: i === 3 || i === 17 })));
    await writer.flush().catch(() => undefined);
    const settled = await outcomes;
    expect(settled).toHaveLength(20);
    expect(settled.map((o, i) => (o === null ? null : i))).toEqual(Array.from({ length: 20 }, (_, i) => (i === 3 || i === 17 ? i : null)));
    expect(settled[3]).toBeInstanceOf(SinkRowRejectedError);
    expect(ch.stored.map((r) => r.i).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 20 }, (_, i) => i).filter((i) => i !== 3 && i !== 17));
    await writer.close();
  });
});

describe('ClickHouseWriter: a configuration error is a stop', () => {
  it('keeps the rows pending (no rejection), reports why, retries, and lands them once the configuration works', async () => {
    const ch = fakeClickHouse();
    ch.state.refuseAll = WRONG_PASSWORD;
    const lines: string[] = [];
    const writer = new ClickHouseWriter({ clickhouse: settings, client: ch.client, maxBatchRows: 5, stoppedBackoff: fast, log: (level, message) => void lines.push(`${level} ${message}`) });
    const outcomes = Array.from({ length: 10 }, (_, i) => settle(writer.add('verdicts', { i })));
    let settledEarly = false;
    void Promise.race(outcomes).then(() => (settledEarly = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(settledEarly).toBe(false);
    expect(ch.inserts()).toBeGreaterThan(3);
    expect(writer.problem()).toMatch(/inserts into verdicts stopped .*Code: 193.*Wrong password/);
    expect(lines.filter((l) => l.startsWith('error'))).toHaveLength(1); // once, not per retry
    ch.state.refuseAll = null;
    expect(await Promise.all(outcomes)).toEqual(Array(10).fill('stored'));
    expect(ch.stored).toHaveLength(10);
    expect(writer.problem()).toBeNull();
    await writer.close();
  });

  it('an unclassified error that a single row still gets stops too, instead of dead-lettering good rows', async () => {
    const ch = fakeClickHouse();
    ch.state.refuseAll = () => new Error('Code: 9999, e.displayText() = DB::Exception: something new');
    const writer = new ClickHouseWriter({ clickhouse: settings, client: ch.client, maxBatchRows: 4, stoppedBackoff: fast, log: () => {} });
    const outcomes = Array.from({ length: 4 }, (_, i) => settle(writer.add('seeds', { i })));
    await new Promise((r) => setTimeout(r, 50));
    expect(writer.problem()).toMatch(/Code: 9999/);
    ch.state.refuseAll = null;
    expect(await Promise.all(outcomes)).toEqual(Array(4).fill('stored'));
    await writer.close();
  });

  it('a service stopping while a table is stopped: its rows reject with a plain Error (the stage crashes, nothing committed)', async () => {
    const ch = fakeClickHouse();
    ch.state.refuseAll = WRONG_PASSWORD;
    const writer = new ClickHouseWriter({ clickhouse: settings, client: ch.client, maxBatchRows: 1, stoppedBackoff: { initialMs: 60_000, maxMs: 60_000, factor: 1 }, log: () => {} });
    const outcome = settle(writer.add('seeds', { i: 1 }));
    await new Promise((r) => setTimeout(r, 20));
    writer.interrupt();
    const error = await outcome;
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(SinkRowRejectedError);
    expect(error).not.toBeInstanceOf(SinkWriteError);
    expect(String(error)).toMatch(/stopped by a configuration error .*Wrong password/);
    await writer.close().catch(() => undefined);
  });
});
