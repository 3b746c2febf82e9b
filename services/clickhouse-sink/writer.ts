/**
 * Batching ClickHouse writer: rows accumulate per table and are inserted when a table's buffer
 * reaches `maxBatchRows` or its oldest row has waited `maxBatchWaitMs`. Each `add` returns a
 * promise that resolves only after ClickHouse accepted the insert holding those rows, so the Kafka
 * runtime commits offsets after it. It rejects with SinkRowRejectedError when ClickHouse refused
 * one of those rows on its own (dead-letter it), with SinkWriteError when ClickHouse stayed
 * unreachable (retry later); nothing is dropped silently: the caller must not commit on a rejection.
 *
 * Inserts use @clickhouse/client with JSONEachRow: values travel as JSON in the request body and
 * are never spliced into SQL. One insert per table is in flight at a time (backpressure: the next
 * batch fills meanwhile). A retry after a timeout may insert a block twice; the tables are
 * ReplacingMergeTree keyed by deterministic ids, so readers using FINAL still see one row.
 *
 * Failures, by class (insertErrorClass):
 * - retriable: connection errors, errors without a ClickHouse code (e.g. a proxy's 502/503 page),
 *   codes that mean "try later" (overload, timeouts, too many parts...): retried with backoff and
 *   jitter (services/runtime/retry.ts), then the batch's adds reject with a retriable SinkWriteError.
 * - bad data (a value ClickHouse cannot parse): one row must not cost its batch. The batch is split
 *   in halves and each half inserted again, down to single rows; only a row that fails alone is
 *   rejected (SinkRowRejectedError: its message is dead-lettered), every other row lands.
 * - configuration (auth failure, unknown database/table/column; and an unclassified error that a
 *   single row still gets): not the data's fault. The table STOPS: the failed rows stay pending
 *   (never rejected, so nothing is dead-lettered and nothing committed), new rows wait behind them,
 *   `problem()` says why (the service's health reports it), and the insert is tried again with
 *   backoff up to 30 s until the configuration works; then the table resumes.
 * On 18.16 the client throws plain Errors without `.code`: the code is read from the message.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { GripConfig } from '../runtime/config.ts';
import { jsonLogger, type Logger } from '../runtime/log.ts';
import { backoffDelay, sleep, withRetry, type BackoffOptions } from '../runtime/retry.ts';
import { processDependencies } from '../runtime/dependencies.ts';

const rowsWritten = new Counter({
  name: 'grip_sink_rows_written_total',
  help: 'Rows ClickHouse accepted, by table',
  labelNames: ['table'] as const,
});
const insertSeconds = new Histogram({
  name: 'grip_sink_insert_duration_seconds',
  help: 'Duration of one insert attempt into ClickHouse, by table and outcome (ok, retriable, fatal, refused)',
  labelNames: ['table', 'outcome'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
});
const insertFailures = new Counter({
  name: 'grip_sink_insert_failures_total',
  help: 'Failed insert attempts, by table and kind (retriable: retried; fatal: retries exhausted; bad_data: batch split; configuration: table stopped)',
  labelNames: ['table', 'kind'] as const,
});
const rowsRejected = new Counter({
  name: 'grip_sink_rows_rejected_total',
  help: 'Rows ClickHouse refused on their own (bad data, isolated by splitting their batch), by table',
  labelNames: ['table'] as const,
});
const tableStopped = new Gauge({
  name: 'grip_sink_table_stopped',
  help: '1 while inserts into a table are stopped by a configuration error (auth, missing table or column), by table',
  labelNames: ['table'] as const,
});

/** Backoff of the retries of a table stopped by a configuration error. */
const STOPPED_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000, factor: 2 };
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
  /** Backoff of the retries while a configuration error stops a table (default 1 s doubling to 30 s). */
  stoppedBackoff?: BackoffOptions;
  /** Jitter source (tests). */
  random?: () => number;
  /** Where stops, resumes and refused rows are logged. */
  log?: Logger;
  /** A client to use instead of one built from `clickhouse` (tests); the writer closes it. */
  client?: ClickHouseClient;
}

/** A row ClickHouse refused on its own (bad data): its message goes to the DLQ. */
export class SinkRowRejectedError extends Error {
  constructor(
    readonly table: string,
    override readonly cause: unknown,
  ) {
    super(`clickhouse-sink: ClickHouse refused a row of ${table} (the rest of its batch was stored): ${firstLine(cause)}`);
    this.name = 'SinkRowRejectedError';
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).trim().split('\n')[0];
}

/** Retriable failures (ClickHouse unreachable or overloaded) outlasted maxAttempts: the caller retries later. */
export class SinkWriteError extends Error {
  constructor(
    readonly table: string,
    readonly rows: number,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(
      `clickhouse-sink: insert of ${rows} rows into ${table} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}` +
        ` (still failing: ClickHouse unreachable or overloaded): ${firstLine(cause)}`,
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

/** Codes that mean the sink is set up wrong (auth, database, table, columns), not that a row is bad. */
const CONFIGURATION_CODES = new Set([
  8, // THERE_IS_NO_COLUMN
  10, // NOT_FOUND_COLUMN_IN_BLOCK
  16, // NO_SUCH_COLUMN_IN_TABLE
  47, // UNKNOWN_IDENTIFIER
  60, // UNKNOWN_TABLE
  81, // UNKNOWN_DATABASE
  115, // UNKNOWN_SETTING
  192, // UNKNOWN_USER
  193, // WRONG_PASSWORD
  194, // REQUIRED_PASSWORD
  195, // IP_ADDRESS_NOT_ALLOWED
  497, // ACCESS_DENIED
  516, // AUTHENTICATION_FAILED
]);
/** Codes of a value ClickHouse cannot take: the row is bad, not the setup. */
const BAD_DATA_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  32, // ATTEMPT_TO_READ_AFTER_EOF
  33, // CANNOT_READ_ALL_DATA
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA (except an unknown field: see insertErrorClass)
  128, // TOO_LARGE_ARRAY_SIZE
  130, // CANNOT_READ_ARRAY_FROM_TEXT
  131, // TOO_LARGE_STRING_SIZE
  190, // SIZES_OF_ARRAYS_DOESNT_MATCH
  321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
  349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
]);

export type InsertErrorClass = 'retriable' | 'configuration' | 'bad_data' | 'unclassified';

/** What a failed insert means; see the file comment. */
export function insertErrorClass(error: unknown): InsertErrorClass {
  if (isRetriableInsertError(error)) return 'retriable';
  const code = clickhouseErrorCode(error)!;
  // The rows' keys are the mapper's column names: a field the table lacks is a schema mismatch
  // (a migration not applied), whatever the row holds.
  if (CONFIGURATION_CODES.has(code) || /Unknown field found while parsing/i.test(firstLine(error))) return 'configuration';
  if (BAD_DATA_CODES.has(code)) return 'bad_data';
  return 'unclassified';
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

/**
 * The rows of one `add` or `addEach` call: settles once every row has its outcome, stored or the
 * error it failed with. A row settles once; a later outcome for it (a batch failing after its half
 * with that row landed) is ignored.
 */
class Waiter {
  private remaining: number;
  private readonly outcomes: Array<Error | null | undefined>;
  constructor(
    rows: number,
    private readonly onSettled: (errors: Array<Error | null>) => void,
  ) {
    this.remaining = rows;
    this.outcomes = new Array(rows);
  }
  settle(index: number, error: Error | null): void {
    if (this.outcomes[index] !== undefined) return;
    this.outcomes[index] = error;
    if (--this.remaining === 0) this.onSettled(this.outcomes as Array<Error | null>);
  }
}

interface Pending {
  row: Row;
  waiter: Waiter;
  /** The row's place in its add call. */
  index: number;
}

interface TableState {
  rows: Pending[];
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
  private readonly stoppedBackoff: BackoffOptions;
  private readonly log: Logger;
  private closed = false;
  /** Aborted by close(): a table stopped by a configuration error gives up waiting. */
  private readonly closing = new AbortController();
  /** Why each stopped table is stopped. */
  private readonly stopped = new Map<string, string>();

  constructor(opts: WriterOptions) {
    this.maxBatchRows = positiveInteger('maxBatchRows', opts.maxBatchRows ?? 1000);
    this.maxBatchWaitMs = positiveInteger('maxBatchWaitMs', opts.maxBatchWaitMs ?? 1000);
    this.maxAttempts = positiveInteger('maxAttempts', opts.maxAttempts ?? 8);
    this.backoff = opts.backoff;
    this.random = opts.random;
    this.stoppedBackoff = opts.stoppedBackoff ?? STOPPED_BACKOFF;
    this.log = opts.log ?? jsonLogger('clickhouse-sink');
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

  /**
   * For a service that stops: a table stopped by a configuration error stops waiting, and its rows
   * reject with a plain Error (the stage crashes: nothing committed, the messages come back after
   * a restart). Tables that insert go on, so a graceful stop still drains them.
   */
  interrupt(): void {
    this.closing.abort();
  }

  /**
   * Queues rows for `table`; resolves once ClickHouse accepted every one of them, rejects (once
   * all are settled) with the first row's failure: SinkRowRejectedError, SinkWriteError, or Error.
   */
  async add(table: string, rows: Row | Row[]): Promise<void> {
    const failed = (await this.addEach(table, Array.isArray(rows) ? rows : [rows])).find((e) => e !== null);
    if (failed) throw failed;
  }

  /**
   * Queues rows for `table`; resolves once every row is settled, with one outcome per row in
   * order: null (ClickHouse accepted it) or the Error it failed with (as `add` rejects). One
   * promise for many rows: the sink's batch path.
   */
  addEach(table: string, rows: Row[]): Promise<Array<Error | null>> {
    if (this.closed) return Promise.reject(new Error('clickhouse-sink: writer is closed'));
    if (!IDENTIFIER_RE.test(table)) return Promise.reject(new Error(`clickhouse-sink: table name must be an identifier, got ${JSON.stringify(table)}`));
    if (rows.length === 0) return Promise.resolve([]);
    const state = this.state(table);
    let waiter!: Waiter;
    const settled = new Promise<Array<Error | null>>((resolve) => (waiter = new Waiter(rows.length, resolve)));
    for (let index = 0; index < rows.length; index++) state.rows.push({ row: rows[index]!, waiter, index });
    bufferedRows.inc({ table }, rows.length);
    if (state.rows.length >= this.maxBatchRows) void this.flushTable(table);
    else state.timer ??= setTimeout(() => void this.flushTable(table), this.maxBatchWaitMs);
    return settled;
  }

  /** Inserts everything buffered now; resolves when all inserts so far are settled, rejects if any of those batches failed. */
  async flush(): Promise<void> {
    const batches = [...this.tables.keys()].map((table) => this.flushTable(table));
    const outcomes = await Promise.allSettled(batches);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * Why inserts are stopped (a configuration error, retried until it works), or null when every
   * table inserts. The sink's health reports it.
   */
  problem(): string | null {
    if (this.stopped.size === 0) return null;
    return [...this.stopped].map(([table, reason]) => `inserts into ${table} stopped (retrying until it works): ${reason}`).join('; ');
  }

  /** Flushes, then closes the client; later `add` calls reject. A table stopped by a configuration error rejects its rows (see interrupt). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    try {
      await this.flush();
    } finally {
      await this.client.close();
    }
  }

  private state(table: string): TableState {
    let state = this.tables.get(table);
    if (!state) {
      state = { rows: [], timer: undefined, inFlight: Promise.resolve() };
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
    if (rows.length === 0) return state.inFlight;
    state.rows = [];
    const batch = state.inFlight.then(() => this.insertBatch(table, rows));
    state.inFlight = batch.then(
      () => void bufferedRows.dec({ table }, rows.length),
      (error: Error) => {
        bufferedRows.dec({ table }, rows.length);
        for (const p of rows) p.waiter.settle(p.index, error);
      },
    );
    return batch;
  }

  /**
   * Inserts a batch; settles each row's waiter. Bad data splits the batch (bisect) until the bad
   * rows are alone; a configuration error stops the table until the insert works again. Throws
   * (rejecting the rows not settled) only when retriable failures outlast maxAttempts
   * (SinkWriteError), or the writer closes or is interrupted while the table is stopped (Error).
   */
  private async insertBatch(table: string, items: Pending[]): Promise<void> {
    for (let stoppedAttempt = 0; ; stoppedAttempt++) {
      let error: unknown;
      try {
        await this.insertWithRetry(table, items.map((p) => p.row));
        if (this.stopped.delete(table)) {
          tableStopped.set({ table }, 0);
          if (this.stopped.size === 0) processDependencies.succeeded('clickhouse');
          this.log('info', 'clickhouse-sink: inserts work again; table resumed', { table });
        }
        for (const p of items) p.waiter.settle(p.index, null);
        return;
      } catch (failure) {
        if (!(failure instanceof InsertRefused)) throw failure;
        error = failure.cause;
      }
      const kind = insertErrorClass(error);
      if ((kind === 'bad_data' || kind === 'unclassified') && items.length > 1) {
        insertFailures.inc({ table, kind: 'bad_data' });
        const half = Math.ceil(items.length / 2);
        await this.insertBatch(table, items.slice(0, half));
        await this.insertBatch(table, items.slice(half));
        return;
      }
      if (kind === 'bad_data') {
        rowsRejected.inc({ table });
        this.log('warn', 'clickhouse-sink: ClickHouse refused a row; its message is dead-lettered', { table, error: firstLine(error) });
        items[0]!.waiter.settle(items[0]!.index, new SinkRowRejectedError(table, error));
        return;
      }
      // A configuration error, or an unclassified one that even a single row gets: stop, keep the
      // rows, try again later. Rejecting them would dead-letter good data.
      insertFailures.inc({ table, kind: 'configuration' });
      const reason = firstLine(error);
      if (this.stopped.get(table) !== reason) {
        this.log('error', 'clickhouse-sink: inserts stopped by a configuration error; retrying until it works (nothing is committed or dead-lettered meanwhile)', { table, rows: items.length, error: reason });
      }
      this.stopped.set(table, reason);
      tableStopped.set({ table }, 1);
      processDependencies.failed('clickhouse', 'configuration', `inserts into ${table}: ${reason}`);
      await sleep(backoffDelay(stoppedAttempt, this.stoppedBackoff, this.random), this.closing.signal).catch(() => undefined);
      if (this.closing.signal.aborted) throw new Error(`clickhouse-sink: stopping while inserts into ${table} are stopped by a configuration error (${items.length} rows not stored, not committed): ${reason}`);
    }
  }

  /** One insert, its passing failures retried (retry.ts); a refusal is thrown as InsertRefused for insertBatch. */
  private async insertWithRetry(table: string, rows: Row[]): Promise<void> {
    await withRetry(
      {
        site: 'clickhouse',
        dependency: 'clickhouse',
        classify: (error) => (isRetriableInsertError(error) ? 'transient' : undefined),
        maxAttempts: this.maxAttempts,
        patienceMs: Number.POSITIVE_INFINITY,
        backoff: this.backoff,
        random: this.random,
        onRetry: () => insertFailures.inc({ table, kind: 'retriable' }),
        wrap: (error, _kind, attempts) => {
          insertFailures.inc({ table, kind: 'fatal' });
          return new SinkWriteError(table, rows.length, attempts, error);
        },
      },
      async () => {
        const started = performance.now();
        try {
          await this.client.insert({ table, values: rows, format: 'JSONEachRow' });
        } catch (error) {
          const retriable = isRetriableInsertError(error);
          insertSeconds.observe({ table, outcome: retriable ? 'retriable' : 'refused' }, (performance.now() - started) / 1000);
          // Bad data or configuration: insertBatch decides (split, or stop).
          throw retriable ? error : new InsertRefused(error);
        }
        insertSeconds.observe({ table, outcome: 'ok' }, (performance.now() - started) / 1000);
        rowsWritten.inc({ table }, rows.length);
      },
    );
  }
}

/** An insert ClickHouse answered with a refusal (not a passing failure); internal to the writer. */
class InsertRefused extends Error {
  constructor(override readonly cause: unknown) {
    super(firstLine(cause));
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`clickhouse-sink: ${name} must be a positive integer, got ${value}`);
  return value;
}
