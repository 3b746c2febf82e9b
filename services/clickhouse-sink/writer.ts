/**
 * Batching ClickHouse writer: rows accumulate per table and are inserted when a table's buffer
 * reaches `maxBatchRows` or its oldest row has waited `maxBatchWaitMs`. Each `add` returns a
 * promise that resolves only after ClickHouse accepted the insert holding those rows, so the Kafka
 * runtime commits offsets after it; it rejects with SinkWriteError when the insert failed for good
 * (nothing is dropped silently: the caller must not commit, and should crash or retry).
 *
 * Inserts use @clickhouse/client with JSONEachRow: values travel as JSON in the request body and
 * are never spliced into SQL. One insert per table is in flight at a time (backpressure: the next
 * batch fills meanwhile). A retry after a timeout may insert a block twice; the tables are
 * ReplacingMergeTree keyed by deterministic ids, so readers using FINAL still see one row.
 *
 * Retries (backoff with jitter, services/runtime/retry.ts): connection errors, errors without a
 * ClickHouse code (e.g. a proxy's 502/503 page), and ClickHouse codes that mean "try later"
 * (overload, timeouts, too many parts, read-only replica...). Other ClickHouse codes (bad data,
 * unknown table or column, auth) fail at once: a retry cannot fix them.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { GripConfig } from '../runtime/config.ts';
import { backoffDelay, sleep, type BackoffOptions } from '../runtime/retry.ts';

const rowsWritten = new Counter({
  name: 'grip_sink_rows_written_total',
  help: 'Rows ClickHouse accepted, by table',
  labelNames: ['table'] as const,
});
const insertSeconds = new Histogram({
  name: 'grip_sink_insert_duration_seconds',
  help: 'Duration of one insert attempt into ClickHouse, by table and outcome (ok, retriable, fatal)',
  labelNames: ['table', 'outcome'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
});
const insertFailures = new Counter({
  name: 'grip_sink_insert_failures_total',
  help: 'Failed insert attempts, by table and kind (retriable: retried; fatal: batch rejected)',
  labelNames: ['table', 'kind'] as const,
});
const bufferedRows = new Gauge({
  name: 'grip_sink_buffered_rows',
  help: 'Rows waiting in the writer for their batch to be inserted, by table',
  labelNames: ['table'] as const,
});

/** A JSONEachRow row: a plain object whose keys are column names (the row interfaces of rows.ts). */
export type Row = object;

export interface WriterOptions {
  clickhouse: GripConfig['clickhouse'];
  /** Flush a table when this many rows wait (default 1000). */
  maxBatchRows?: number;
  /** Flush a table when its oldest waiting row is this old, ms (default 1000). */
  maxBatchWaitMs?: number;
  /** Insert attempts per batch before giving up (default 8: about 15 s with the default backoff). */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** Per-request timeout of the ClickHouse client, ms (default 30 000). */
  requestTimeoutMs?: number;
  /** Jitter source (tests). */
  random?: () => number;
  /** A client to use instead of one built from `clickhouse` (tests); the writer closes it. */
  client?: ClickHouseClient;
}

export class SinkWriteError extends Error {
  constructor(
    readonly table: string,
    readonly rows: number,
    readonly attempts: number,
    readonly retriable: boolean,
    override readonly cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message.trim().split('\n')[0] : String(cause);
    super(
      `clickhouse-sink: insert of ${rows} rows into ${table} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}` +
        `${retriable ? ' (still failing: ClickHouse unreachable or overloaded)' : ' (not retriable)'}: ${reason}`,
    );
    this.name = 'SinkWriteError';
  }
}

const RETRIABLE_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET']);
/** ClickHouse error codes that mean "the server cannot take it now", not "the data is wrong". */
const RETRIABLE_CLICKHOUSE_CODES = new Set([
  159, // TIMEOUT_EXCEEDED
  164, // READONLY (replica in read-only mode for a while)
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS
  285, // TOO_FEW_LIVE_REPLICAS
  319, // UNKNOWN_STATUS_OF_INSERT
  425, // SYSTEM_ERROR
  999, // KEEPER_EXCEPTION
]);

/** The ClickHouse error code in a server error message (`Code: 27, e.displayText() = ...` on 18.16, `Code: 27. DB::Exception` now). */
export function clickhouseErrorCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  const message = error instanceof Error ? error.message : String(error);
  const match = /\bCode: (\d+)[.,]/.exec(message);
  return match ? Number(match[1]) : undefined;
}

export function isRetriableInsertError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && RETRIABLE_NETWORK_CODES.has(code)) return true;
  const message = error instanceof Error ? error.message : String(error);
  if (/socket hang up|timeout error|connect ECONNREFUSED|other side closed/i.test(message)) return true;
  const clickhouseCode = clickhouseErrorCode(error);
  if (clickhouseCode === undefined) return true;
  return RETRIABLE_CLICKHOUSE_CODES.has(clickhouseCode);
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

interface TableState {
  rows: Row[];
  waiters: Waiter[];
  timer: NodeJS.Timeout | undefined;
  /** The chain of this table's inserts; never rejects (outcomes go to the waiters). */
  inFlight: Promise<void>;
}

const IDENTIFIER_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class ClickHouseWriter {
  private readonly client: ClickHouseClient;
  private readonly tables = new Map<string, TableState>();
  private readonly maxBatchRows: number;
  private readonly maxBatchWaitMs: number;
  private readonly maxAttempts: number;
  private readonly backoff: BackoffOptions | undefined;
  private readonly random: (() => number) | undefined;
  private closed = false;

  constructor(opts: WriterOptions) {
    this.maxBatchRows = positiveInteger('maxBatchRows', opts.maxBatchRows ?? 1000);
    this.maxBatchWaitMs = positiveInteger('maxBatchWaitMs', opts.maxBatchWaitMs ?? 1000);
    this.maxAttempts = positiveInteger('maxAttempts', opts.maxAttempts ?? 8);
    this.backoff = opts.backoff;
    this.random = opts.random;
    this.client =
      opts.client ??
      createClient({
        url: opts.clickhouse.url,
        username: opts.clickhouse.username,
        password: opts.clickhouse.password,
        database: opts.clickhouse.database,
        request_timeout: opts.requestTimeoutMs ?? 30_000,
        // Failures surface as SinkWriteError and metrics; the client's own error log would repeat every retry.
        log: { level: ClickHouseLogLevel.OFF },
      });
  }

  /** Queues rows for `table`; resolves once ClickHouse accepted the batch holding them. */
  add(table: string, rows: Row | Row[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('clickhouse-sink: writer is closed'));
    if (!IDENTIFIER_RE.test(table)) return Promise.reject(new Error(`clickhouse-sink: table name must be an identifier, got ${JSON.stringify(table)}`));
    const list = Array.isArray(rows) ? rows : [rows];
    if (list.length === 0) return Promise.resolve();
    const state = this.state(table);
    const accepted = new Promise<void>((resolve, reject) => state.waiters.push({ resolve, reject }));
    state.rows.push(...list);
    bufferedRows.inc({ table }, list.length);
    if (state.rows.length >= this.maxBatchRows) void this.flushTable(table);
    else state.timer ??= setTimeout(() => void this.flushTable(table), this.maxBatchWaitMs);
    return accepted;
  }

  /** Inserts everything buffered now; resolves when all inserts so far are settled, rejects if any of those batches failed. */
  async flush(): Promise<void> {
    const batches = [...this.tables.keys()].map((table) => this.flushTable(table));
    const outcomes = await Promise.allSettled(batches);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Flushes, then closes the client; later `add` calls reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
    } finally {
      await this.client.close();
    }
  }

  private state(table: string): TableState {
    let state = this.tables.get(table);
    if (!state) {
      state = { rows: [], waiters: [], timer: undefined, inFlight: Promise.resolve() };
      this.tables.set(table, state);
    }
    return state;
  }

  /** Takes the table's buffer as one batch and queues its insert after the one in flight. */
  private flushTable(table: string): Promise<void> {
    const state = this.state(table);
    if (state.timer) clearTimeout(state.timer);
    state.timer = undefined;
    const rows = state.rows;
    const waiters = state.waiters;
    if (rows.length === 0) return state.inFlight;
    state.rows = [];
    state.waiters = [];
    const batch = state.inFlight.then(() => this.insertWithRetry(table, rows));
    state.inFlight = batch.then(
      () => {
        bufferedRows.dec({ table }, rows.length);
        for (const w of waiters) w.resolve();
      },
      (error: Error) => {
        bufferedRows.dec({ table }, rows.length);
        for (const w of waiters) w.reject(error);
      },
    );
    return batch;
  }

  private async insertWithRetry(table: string, rows: Row[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      try {
        await this.client.insert({ table, values: rows, format: 'JSONEachRow' });
        insertSeconds.observe({ table, outcome: 'ok' }, (performance.now() - started) / 1000);
        rowsWritten.inc({ table }, rows.length);
        return;
      } catch (error) {
        const retriable = isRetriableInsertError(error);
        const kind = retriable && attempt < this.maxAttempts ? 'retriable' : 'fatal';
        insertSeconds.observe({ table, outcome: kind }, (performance.now() - started) / 1000);
        insertFailures.inc({ table, kind });
        if (kind === 'fatal') throw new SinkWriteError(table, rows.length, attempt, retriable, error);
        await sleep(backoffDelay(attempt - 1, this.backoff, this.random));
      }
    }
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`clickhouse-sink: ${name} must be a positive integer, got ${value}`);
  return value;
}
