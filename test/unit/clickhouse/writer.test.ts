import type { ClickHouseClient } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { ClickHouseWriter, clickhouseErrorCode, insertErrorClass, isRetriableInsertError, SinkRowRejectedError, SinkWriteError } from '../../../services/clickhouse-sink/writer.ts';

const settings = { url: 'http://127.0.0.1:1', username: 'default', password: '', database: 'grip' };

/** A fake client that records inserts and fails the first `failures` attempts with `error`. */
function fakeClient(failures = 0, error: unknown = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })) {
  const inserts: Array<{ table: string; values: unknown[] }> = [];
  let attempts = 0;
  let closed = false;
  const client = {
    async insert(params: { table: string; values: unknown[] }) {
      attempts++;
      if (attempts <= failures) throw error;
      inserts.push({ table: params.table, values: [...params.values] });
    },
    async close() {
      closed = true;
    },
  } as unknown as ClickHouseClient;
  return { client, inserts, attempts: () => attempts, closed: () => closed };
}

const fastBackoff = { initialMs: 1, maxMs: 2, factor: 2 };

describe('isRetriableInsertError', () => {
  it('retries connection errors, code-less errors and overload codes; not bad data', () => {
    expect(isRetriableInsertError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isRetriableInsertError(new Error('socket hang up'))).toBe(true);
    expect(isRetriableInsertError(new Error('<html>502 Bad Gateway</html>'))).toBe(true);
    expect(isRetriableInsertError(new Error('Code: 252, e.displayText() = DB::Exception: Too many parts'))).toBe(true);
    // 18.16 message format for a parse error
    expect(isRetriableInsertError(new Error('Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected { before: x'))).toBe(false);
    // current releases' format, as parsed by the client into a ClickHouseError with a string code
    expect(isRetriableInsertError(Object.assign(new Error('Unknown table'), { code: '60' }))).toBe(false);
    expect(clickhouseErrorCode(new Error('Code: 60. DB::Exception: Table grip.x does not exist'))).toBe(60);
  });
});

describe('ClickHouseWriter (fake client)', () => {
  it('flushes when a table reaches maxBatchRows, one insert per batch', async () => {
    const fake = fakeClient();
    const writer = new ClickHouseWriter({ clickhouse: settings, client: fake.client, maxBatchRows: 3, maxBatchWaitMs: 60_000 });
    const done = [writer.add('t', { i: 1 }), writer.add('t', [{ i: 2 }, { i: 3 }])];
    await Promise.all(done);
    expect(fake.inserts).toEqual([{ table: 't', values: [{ i: 1 }, { i: 2 }, { i: 3 }] }]);
    await writer.close();
    expect(fake.closed()).toBe(true);
  });

  it('flushes by time when the batch stays small', async () => {
    const fake = fakeClient();
    const writer = new ClickHouseWriter({ clickhouse: settings, client: fake.client, maxBatchRows: 100, maxBatchWaitMs: 50 });
    const started = Date.now();
    await writer.add('t', { i: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    expect(fake.inserts).toHaveLength(1);
    await writer.close();
  });

  it('keeps tables apart', async () => {
    const fake = fakeClient();
    const writer = new ClickHouseWriter({ clickhouse: settings, client: fake.client, maxBatchRows: 100, maxBatchWaitMs: 60_000 });
    const a = writer.add('a', { x: 1 });
    const b = writer.add('b', { y: 1 });
    await writer.flush();
    await Promise.all([a, b]);
    expect(fake.inserts.map((i) => i.table).sort()).toEqual(['a', 'b']);
    await writer.close();
  });

  it('retries a connection error, then resolves', async () => {
    const fake = fakeClient(2);
    const writer = new ClickHouseWriter({ clickhouse: settings, client: fake.client, maxBatchRows: 1, backoff: fastBackoff });
    await writer.add('t', { i: 1 });
    expect(fake.attempts()).toBe(3);
    expect(fake.inserts).toHaveLength(1);
    await writer.close();
  });

  it('gives up after maxAttempts with a SinkWriteError naming table, rows and cause', async () => {
    const fake = fakeClient(100);
    const writer = new ClickHouseWriter({ clickhouse: settings, client: fake.client, maxBatchRows: 2, maxAttempts: 4, backoff: fastBackoff });
    const outcome = writer.add('verdicts', [{ i: 1 }, { i: 2 }]);
    await expect(outcome).rejects.toThrowError(SinkWriteError);
    await expect(outcome).rejects.toThrowError(/insert of 2 rows into verdicts failed after 4 attempts .*ECONNREFUSED/);
    expect(fake.attempts()).toBe(4);
    await writer.close();
  });

  it('does not retry bad data: a row refused alone is rejected after one attempt', async () => {
    const fake = fakeClient(100, new Error('Code: 27, e.displayText() = DB::Exception: Cannot parse input'));
    const writer = new ClickHouseWriter({ clickhouse: settings, client: fake.client, maxBatchRows: 1, backoff: fastBackoff, log: () => {} });
    await expect(writer.add('t', { i: 1 })).rejects.toThrowError(SinkRowRejectedError);
    await expect(writer.add('t', { i: 2 })).rejects.toThrowError(/ClickHouse refused a row of t .*Code: 27/);
    expect(fake.attempts()).toBe(2);
    await writer.close();
  });

  it('rejects adds after close and bad table names', async () => {
    const fake = fakeClient();
    const writer = new ClickHouseWriter({ clickhouse: settings, client: fake.client });
    await expect(writer.add('x; DROP TABLE y', { i: 1 })).rejects.toThrowError(/table name must be an identifier/);
    await writer.close();
    await expect(writer.add('t', { i: 1 })).rejects.toThrowError(/writer is closed/);
  });
});
