/**
 * The process's adaptive limiters, one per model endpoint (base URL + model), shared by every
 * LlmClient and so by every stage of the process: two stages on one GPU server must share what
 * it can take, not each probe it as if it were alone. Exported per endpoint as prom-client metrics.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge } from 'prom-client';
import { AdaptiveLimiter, type LimiterOptions, type LimiterSnapshot } from './limiter.ts';

/** `concurrency: auto`: the limiter finds the number; this only bounds a runaway. */
export const AUTO_CEILING = 1024;

export type ConcurrencySetting = number | 'auto';

export function ceilingOf(concurrency: ConcurrencySetting | undefined): number {
  return concurrency === undefined || concurrency === 'auto' ? AUTO_CEILING : concurrency;
}

const LAG_RESOLUTION_MS = 10;
let loopDelay: ReturnType<typeof monitorEventLoopDelay> | undefined;
let lagReadAt = 0;
let lagMs = 0;

/**
 * What this process's own event loop adds to every answer now, ms: twice the mean event-loop lag of
 * the last second (a request is delayed once going out, once coming back). On a machine short of
 * CPU it is tens of ms, which a limiter must not read as the endpoint's queue.
 */
export function processLagMs(): number {
  if (!loopDelay) {
    loopDelay = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    loopDelay.enable();
  }
  const t = performance.now();
  if (t - lagReadAt >= 1000) {
    const mean = loopDelay.mean / 1e6; // NaN before the first sample
    lagMs = Number.isFinite(mean) ? Math.max(0, mean - LAG_RESOLUTION_MS) : 0;
    loopDelay.reset();
    lagReadAt = t;
  }
  return 2 * lagMs;
}

export class LimiterRegistry {
  private readonly limiters = new Map<string, AdaptiveLimiter>();

  constructor(private readonly defaults: Omit<LimiterOptions, 'ceiling' | 'now'> & { now?: () => number } = {}) {}

  /** The limiter of an endpoint; a second caller with a lower ceiling lowers it (the strictest wins). */
  get(endpoint: string, ceiling: number): AdaptiveLimiter {
    let limiter = this.limiters.get(endpoint);
    if (!limiter) {
      const initial = this.defaults.initial === undefined ? undefined : Math.min(this.defaults.initial, ceiling);
      limiter = new AdaptiveLimiter({ clientLagMs: processLagMs, ...this.defaults, initial, ceiling, now: this.defaults.now ?? (() => performance.now()) });
      this.limiters.set(endpoint, limiter);
    } else limiter.lowerCeiling(ceiling);
    return limiter;
  }

  /** Requests waiting for a permit, over every endpoint: the stages' signal to admit fewer records. */
  waiting(): number {
    let n = 0;
    for (const l of this.limiters.values()) n += l.waiting;
    return n;
  }

  snapshot(): Record<string, LimiterSnapshot> {
    return Object.fromEntries([...this.limiters].map(([k, l]) => [k, l.snapshot()]));
  }
}

/** The one registry of this process (LlmClient's default). */
export const processLimiters = new LimiterRegistry();

export const endpointLabel = (baseUrl: string, model: string) => `${model}@${baseUrl}`;

export const llmThrottles = new Counter({
  name: 'grip_llm_throttle_events_total',
  help: 'Answers that made an endpoint limiter back off, by kind (429, 503, timeout)',
  labelNames: ['endpoint', 'kind'] as const,
});

function gauge(name: string, help: string, pick: (s: LimiterSnapshot) => number): void {
  new Gauge({
    name,
    help,
    labelNames: ['endpoint'] as const,
    collect() {
      this.reset();
      for (const [endpoint, s] of Object.entries(processLimiters.snapshot())) this.set({ endpoint }, pick(s));
    },
  });
}
gauge('grip_llm_concurrency_limit', 'Requests the adaptive limiter lets in flight to an endpoint now', (s) => s.limit);
gauge('grip_llm_in_flight', 'Requests in flight to an endpoint', (s) => s.inFlight);
gauge('grip_llm_waiting', 'Requests waiting for the endpoint limiter', (s) => s.waiting);
gauge('grip_llm_reference_latency_seconds', "An endpoint's latency without a queue, as its limiter last measured it (a probe below the slot count)", (s) => s.referenceMs / 1000);
gauge('grip_llm_reference_age_seconds', 'Time since the limiter last measured the reference latency of an endpoint', (s) => s.referenceAgeMs / 1000);
gauge('grip_llm_latency_p50_seconds', 'Median latency of the last 1024 answers of an endpoint', (s) => s.p50Ms / 1000);
gauge('grip_llm_latency_p99_seconds', 'p99 latency of the last 1024 answers of an endpoint', (s) => s.p99Ms / 1000);
