/**
 * The one retry protocol of every client (LLM, embeddings, Kafka, schema registry, ClickHouse):
 * failures are classified by kind (errors.ts), transient and overload failures are waited out with
 * backoff and jitter for a patience window, configuration and bad-input failures are not retried
 * here (the stage runner pauses on the former, dead-letters the latter), and every attempt is
 * counted in one metric and reported to the process's dependency board (what /healthz shows).
 */
import { Counter } from 'prom-client';
import { ClassifiedError, type FailureKind } from './errors.ts';
import { processDependencies, type DependencyBoard } from './dependencies.ts';

export interface BackoffOptions {
  /** First delay, milliseconds. */
  initialMs: number;
  /** Cap on any delay, milliseconds. */
  maxMs: number;
  /** Growth per attempt. */
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 10_000, factor: 2 };

/**
 * Delay before retry number `attempt` (0-based): "equal jitter" — half the exponential delay is
 * fixed, half random — so that clients that failed together do not retry in lockstep, yet every
 * retry waits at least a little.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exp = Math.min(opts.maxMs, opts.initialMs * opts.factor ** Math.max(0, attempt));
  return exp / 2 + random() * (exp / 2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const retryAttempts = new Counter({
  name: 'grip_retry_attempts_total',
  help:
    'Failed attempts of calls to dependencies, by site and outcome: the failure kind (transient, overload, configuration, bad_input), ' +
    'then recovered (a retry worked) or gave_up (patience spent: the caller retries the message later)',
  labelNames: ['site', 'outcome'] as const,
});

export type RetryOutcome = FailureKind | 'recovered' | 'gave_up';

export interface RetryOptions {
  /** Metric label: llm, embeddings, kafka_produce, kafka_consume, registry, clickhouse, stage. */
  site: string;
  /** What the dependency board and health call it (`llm http://host/v1 model`). */
  dependency: string;
  /** The kind of a failure; undefined: unknown (a bug): rethrown at once, untouched. */
  classify(error: unknown): FailureKind | undefined;
  /** Transient and overload failures are retried until this long after the first one (ms). Default 30 s. */
  patienceMs?: number;
  /** And at most this many attempts in all (default: no cap but patience). */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** A server's own wait (Retry-After), ms; the delay is at least this. */
  retryAfterMs?(error: unknown): number | undefined;
  /** The error the caller gets for a failure that is not retried (any more). Default: a ClassifiedError of its kind. */
  wrap?(error: unknown, kind: FailureKind, attempts: number): unknown;
  /** Called before each wait (logging). */
  onRetry?(error: unknown, kind: FailureKind, attempt: number, delayMs: number): void;
  signal?: AbortSignal;
  board?: DependencyBoard;
  now?: () => number;
  random?: () => number;
}

/** Runs `call` until it succeeds or fails in a way retrying here cannot help; see the file comment. */
export async function withRetry<T>(options: RetryOptions, call: (attempt: number) => Promise<T>): Promise<T> {
  const board = options.board ?? processDependencies;
  const now = options.now ?? Date.now;
  const patience = options.patienceMs ?? 30_000;
  let firstFailure: number | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      const value = await call(attempt);
      if (attempt > 0) retryAttempts.inc({ site: options.site, outcome: 'recovered' });
      board.succeeded(options.dependency);
      return value;
    } catch (error) {
      const kind = options.classify(error);
      if (kind === undefined) throw error;
      retryAttempts.inc({ site: options.site, outcome: kind });
      if (kind === 'bad_input') board.succeeded(options.dependency); // it answered: it works
      else board.failed(options.dependency, kind, messageOf(error));
      const wrap = () => (options.wrap ? options.wrap(error, kind, attempt + 1) : classified(error, kind, options));
      if (kind === 'bad_input' || kind === 'configuration') throw wrap();
      firstFailure ??= now();
      const outOfPatience = now() - firstFailure >= patience || (options.maxAttempts !== undefined && attempt + 1 >= options.maxAttempts);
      if (outOfPatience || options.signal?.aborted) {
        retryAttempts.inc({ site: options.site, outcome: 'gave_up' });
        throw wrap();
      }
      const delay = Math.max(backoffDelay(attempt, options.backoff ?? DEFAULT_BACKOFF, options.random), options.retryAfterMs?.(error) ?? 0);
      options.onRetry?.(error, kind, attempt, delay);
      try {
        await sleep(delay, options.signal);
      } catch {
        throw wrap();
      }
    }
  }
}

function classified(error: unknown, kind: FailureKind, options: RetryOptions): unknown {
  if (error instanceof ClassifiedError) return error;
  return new ClassifiedError(`${options.dependency}: ${messageOf(error)}`, kind, `${options.site}_${kind}`, { cause: error, dependency: options.dependency });
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  // @platformatic/kafka: connection lost, request timed out
  'PLT_KFK_NETWORK',
  'PLT_KFK_TIMEOUT',
]);

/** A connection refused, reset or timed out, anywhere in the cause chain (or inside an AggregateError). */
export function isConnectionError(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 6) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  const inner = (error as { errors?: unknown }).errors;
  if (Array.isArray(inner) && inner.some((e) => isConnectionError(e, depth + 1))) return true;
  return isConnectionError((error as { cause?: unknown }).cause, depth + 1);
}

/** HTTP status -> kind, the same for every OpenAI-compatible server (model and embeddings). */
export function httpFailureKind(status: number): FailureKind {
  if (status === 429 || status === 503) return 'overload';
  if (status === 401 || status === 403 || status === 404 || status === 407) return 'configuration';
  if (status === 408 || status === 409 || status === 425 || status >= 500) return 'transient';
  return 'bad_input';
}
