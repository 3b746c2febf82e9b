/**
 * Adaptive concurrency limit of one model endpoint (pure: the clock is injected, no I/O).
 *
 * Why not a fixed number: a model server's capacity is its slot count (vLLM/SGLang batch size,
 * llama.cpp `--parallel`), which the client does not know and which differs by 100x between a CPU
 * box and a GPU node. Below it the endpoint idles; above it requests only wait in the server's
 * queue (latency grows, throughput does not) or get 429/503.
 *
 * The rule, in the style of TCP Vegas (delay-based) with TCP's multiplicative decrease on loss:
 * - Samples are grouped in windows of about one round trip (`limit` answers of requests sent after
 *   the last change of the limit: answers to requests sent under the old limit carry no news about
 *   the new one, and reacting to them again would overshoot, as TCP learned). A window's mean
 *   latency m (by Little's law, what the queue adds; a median would not see a queue shorter than
 *   the slots, whose waits are whole service times) is compared with the floor f: the lowest
 *   window mean of the last two floor periods (a window statistic, not the fastest single answer,
 *   so that event-loop jitter of a busy client is part of the floor instead of reading as queueing;
 *   hence also the small start: a first window beyond the slot count would inflate the floor).
 * - Latency ratio r = m / f. If the endpoint has a queue of q requests behind its S slots, r is
 *   about (S + q) / S, so r measures the queue without knowing S.
 * - Slow start: while r stays near 1 and the limit was actually reached (demand existed), the
 *   limit doubles per window, as TCP does before its first loss; the first window with r > 1.1 ends
 *   slow start for good.
 * - Then (each threshold with an allowance for the client's own jitter: NOISE_MS plus the event-loop
 *   lag the process measures, since a CPU-starved client slows every answer whatever the limit):
 *   r <= 1.1 (no queue to speak of): +max(1, 5%) per window; r > 1.3 (queue beyond 30% of
 *   the slots): the limit is scaled by 1.2 / r (at most cut by a quarter per window, so that one
 *   noisy window cannot collapse it), which lands it at about 1.2 x S in one to three steps; in between it holds. The endpoint thus always has a small queue (its slots never
 *   idle) and latency stays within ~1.3x of the floor.
 * - 429 / 503 / a timeout: limit x 0.7, once per limit change (a burst of throttled answers to
 *   requests sent under one limit is one congestion event, not twenty). Other errors (500, connection refused) say
 *   nothing about load and leave the limit alone.
 * The limit never exceeds `ceiling` (the `concurrency` setting) and never drops below `min`.
 */
export type Outcome = 'ok' | 'throttled' | 'timeout' | 'error';

export interface LimiterOptions {
  /** The most requests ever in flight. */
  ceiling: number;
  /** Where the limit starts. Default min(4, ceiling). */
  initial?: number;
  /** The least the limit drops to. Default 1. */
  min?: number;
  /** Milliseconds, monotonic. */
  now: () => number;
  /** The floor is the lowest window mean of the last two periods of this length. Default 60 s. */
  floorPeriodMs?: number;
  /**
   * Latency this client adds by itself right now, ms (event-loop lag of a process starved of CPU):
   * allowed on top of NOISE_MS, because a smaller limit cannot remove it. Default: none.
   */
  clientLagMs?: () => number;
}

export interface Permit {
  /** Ends the request: its latency (from the grant) and outcome feed the limit. Call once. */
  release(outcome: Outcome): void;
}

export interface LimiterSnapshot {
  limit: number;
  ceiling: number;
  inFlight: number;
  waiting: number;
  /** Milliseconds; 0 before the first window. */
  floorMs: number;
  p50Ms: number;
  p99Ms: number;
  throttles: number;
  timeouts: number;
}

const GROW_BELOW = 1.1;
const SHRINK_ABOVE = 1.3;
const SETTLE_AT = 1.2;
const BACKOFF = 0.7;
const RECENT = 1024;
const MIN_WINDOW = 16;
const MIN_WINDOW_MS = 500;
/** The most one window's latency may cut the limit (a noisy window should not collapse it). */
const MAX_CUT = 0.75;
/**
 * Latency a busy client adds by itself (event-loop lag, GC), ms: allowed on top of the ratios, so
 * that against a 20 ms endpoint a client's own jitter does not read as the endpoint's queue. It is
 * a few percent of a 200 ms answer and nothing against a 2 s one.
 */
const NOISE_MS = 5;

export class AdaptiveLimiter {
  private limitValue: number;
  private ceilingValue: number;
  private readonly min: number;
  private readonly now: () => number;
  private readonly floorPeriodMs: number;
  private readonly clientLagMs: () => number;
  private inFlightCount = 0;
  private readonly waiters: Array<(permit: Permit) => void> = [];
  private slowStart = true;
  /** Latencies of the current window, and whether a request had to wait for the limit in it. */
  private window: number[] = [];
  private windowStart = 0;
  private windowLimited = false;
  private floorNow = Infinity;
  private floorPrev = Infinity;
  private floorPeriodStart: number;
  /** Bumped on every change of the limit; a permit remembers the epoch it was granted in. */
  private epoch = 0;
  private readonly recent: number[] = [];
  private recentNext = 0;
  throttles = 0;
  timeouts = 0;

  constructor(options: LimiterOptions) {
    if (!Number.isInteger(options.ceiling) || options.ceiling < 1) throw new RangeError(`limiter ceiling must be a positive integer, got ${options.ceiling}`);
    this.ceilingValue = options.ceiling;
    this.min = Math.min(options.min ?? 1, options.ceiling);
    this.limitValue = clamp(options.initial ?? 4, this.min, options.ceiling);
    this.now = options.now;
    this.floorPeriodMs = options.floorPeriodMs ?? 60_000;
    this.clientLagMs = options.clientLagMs ?? (() => 0);
    this.floorPeriodStart = options.now();
  }

  /** The current limit (whole requests). */
  get limit(): number {
    return Math.floor(this.limitValue);
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  get floorMs(): number {
    const f = Math.min(this.floorNow, this.floorPrev);
    return Number.isFinite(f) ? f : 0;
  }

  /** Lowers (never raises above the first configured value) the ceiling: clients sharing an endpoint keep the strictest. */
  lowerCeiling(ceiling: number): void {
    if (ceiling >= this.ceilingValue) return;
    this.ceilingValue = Math.max(1, ceiling);
    this.limitValue = Math.min(this.limitValue, this.ceilingValue);
  }

  /** Resolves when a request may be sent (FIFO). */
  acquire(): Promise<Permit> {
    if (this.inFlightCount < this.limit && this.waiters.length === 0) return Promise.resolve(this.grant());
    this.windowLimited = true;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  snapshot(): LimiterSnapshot {
    const sorted = [...this.recent].sort((a, b) => a - b);
    return {
      limit: this.limit,
      ceiling: this.ceilingValue,
      inFlight: this.inFlightCount,
      waiting: this.waiters.length,
      floorMs: this.floorMs,
      p50Ms: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
      throttles: this.throttles,
      timeouts: this.timeouts,
    };
  }

  private grant(): Permit {
    this.inFlightCount++;
    if (this.inFlightCount >= this.limit) this.windowLimited = true;
    const started = this.now();
    const epoch = this.epoch;
    let released = false;
    return {
      release: (outcome) => {
        if (released) return;
        released = true;
        this.inFlightCount--;
        this.sample(outcome, this.now() - started, epoch === this.epoch);
        this.admit();
      },
    };
  }

  private admit(): void {
    while (this.waiters.length > 0 && this.inFlightCount < this.limit) this.waiters.shift()!(this.grant());
  }

  private sample(outcome: Outcome, latencyMs: number, current: boolean): void {
    if (outcome === 'throttled' || outcome === 'timeout') {
      if (outcome === 'throttled') this.throttles++;
      else this.timeouts++;
      if (current) this.backOff();
      return;
    }
    if (outcome !== 'ok') return;
    this.recent[this.recentNext] = latencyMs;
    this.recentNext = (this.recentNext + 1) % RECENT;
    if (!current) return;
    if (this.window.length === 0) this.windowStart = this.now();
    this.window.push(latencyMs);
    // about one round trip of answers; a fast endpoint's window also spans MIN_WINDOW answers or
    // MIN_WINDOW_MS, so that a garbage-collection pause or a busy CPU is averaged, not acted on
    const n = this.window.length;
    if (n >= Math.max(4, this.limit) && (n >= MIN_WINDOW || this.now() - this.windowStart >= MIN_WINDOW_MS)) this.endWindow();
  }

  private backOff(): void {
    this.slowStart = false;
    this.setLimit(Math.max(this.min, this.limitValue * BACKOFF));
  }

  private setLimit(value: number): void {
    this.limitValue = value;
    this.epoch++;
    this.resetWindow();
    this.admit();
  }

  private endWindow(): void {
    const mean = this.window.reduce((a, b) => a + b, 0) / this.window.length;
    const limited = this.windowLimited;
    this.resetWindow();
    const t = this.now();
    if (t - this.floorPeriodStart >= this.floorPeriodMs) {
      // the floor forgets old periods, so an endpoint that became slower for good (longer prompts,
      // a bigger model behind the same URL) is not read as permanently queued
      this.floorPrev = this.floorNow;
      this.floorNow = Infinity;
      this.floorPeriodStart = t;
    }
    this.floorNow = Math.min(this.floorNow, mean);
    const f = this.floorMs;
    const noise = NOISE_MS + this.clientLagMs();
    if (mean > f * SHRINK_ABOVE + 2 * noise) {
      this.slowStart = false;
      this.setLimit(Math.max(this.min, this.limitValue * Math.max(MAX_CUT, (f * SETTLE_AT + noise) / mean)));
    } else if (mean <= f * GROW_BELOW + noise) {
      // without demand at the limit the window says nothing about what more would do
      if (!limited) return;
      const grown = this.slowStart ? this.limitValue * 2 : this.limitValue + Math.max(1, this.limitValue * 0.05);
      this.setLimit(Math.min(this.ceilingValue, grown));
    } else {
      this.slowStart = false;
    }
  }

  private resetWindow(): void {
    this.window = [];
    this.windowLimited = this.waiters.length > 0 || this.inFlightCount >= this.limit;
  }
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, x));
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
