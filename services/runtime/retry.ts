/** Backoff with jitter and cancellable sleep: shared by the LLM client and the Kafka runtime. */

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
