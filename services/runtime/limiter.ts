/**
 * Adaptive concurrency limit of one model endpoint (pure: the clock is injected, no I/O).
 *
 * Why not a fixed number: a model server's capacity is its slot count (vLLM/SGLang batch size,
 * llama.cpp `--parallel`), which the client does not know and which differs by 100x between a CPU
 * box and a GPU node. Below it the endpoint idles; above it requests only wait in the server's
 * queue (latency grows, throughput does not) or get 429/503.
 *
 * The rule, in the style of TCP Vegas (delay-based) with TCP's multiplicative decrease on loss:
 * - Requests are judged in windows of about one round trip: the requests granted together after the
 *   last change of the limit (`limit` of them, at least 16 or 500 ms of grants), judged once all
 *   are answered. Grouped by grant, not by answer: the first answers back are the cheapest
 *   requests. A window of answers that differ in cost (short and long prompts) takes more requests,
 *   until the standard error of its mean is within 3% of it (10% where the question is coarse: in
 *   slow start, after a cut, after timeouts; at most 32 round trips). Its mean latency m (by
 *   Little's law, what the queue adds; a median would not see a queue shorter than the slots) is
 *   compared with the reference f, the endpoint's latency without a queue.
 * - Latency ratio r = m / f. If the endpoint has a queue of q requests behind its S slots, r is
 *   about (S + q) / S, so r measures the queue without knowing S.
 * - Slow start: while the limit was reached (demand existed) and m is not clearly (two standard
 *   errors) above 1.1 f, the limit doubles per window, as TCP does before its first loss. Its
 *   windows start at 4 in flight, below any slot count, so their pooled mean is the first reference.
 * - Then (each threshold with an allowance for the client's own jitter: NOISE_MS, at most a tenth of
 *   the reference, plus the event-loop lag the process measures, since a CPU-starved client slows
 *   every answer whatever the limit): r <= 1.1 (no queue to speak of): +max(1, 5%) per window;
 *   r > 1.3 by two standard errors (queue beyond 30% of the slots): the limit is scaled by 1.2 / r
 *   (at most cut by a quarter per window, so that one window cannot collapse it), which lands it at
 *   about 1.2 x S; in between it holds.
 *
 * The reference. Once the limit is above S every window contains this limiter's own queue. The rule
 * this replaces took the reference from recent windows (the lowest mean of the last two minutes),
 * so after two minutes above S the reference was the queued latency, r read 1 again and the limit
 * grew 5% a window without bound (to the 1024 ceiling, where 16 slots x 1 s answer in 64 s). The
 * reference is now measured only where no queue can be, in the manner of BBR's ProbeRTT: a probe
 * holds in-flight below the slot count until it has sent a sample of requests (16, fewer if the cap
 * is lower, more for answers of unequal cost, at most two round trips at the cap), then lifts the
 * cap; their mean latency is the measurement. A request sent while fewer than S are in flight meets
 * no queue. The cap is 0.9 x the slot count the window before implies (S ~ limit x f / m, less two
 * standard errors of f) and at most 3/4 of the limit: below S while f is within 10% of the truth,
 * and a too high f is deflated by about a tenth per probe, so no queue can leak into the reference
 * for good. Probes run every 30 s (at least 25 references and 20 times the last probe's duration
 * apart: the simulated endpoints keep 0.98-1.00 of their slots busy, probes included), and at once
 * when the windows say the reference is stale: two windows in a row that call for a cut (a cut did
 * not take the latency back: the endpoint got slower, or has fewer slots), or one 20% faster than
 * the reference (it got faster). A probe that agrees with the reference (within 10% plus two
 * standard errors), or that no window called for, is pooled with it (over enough answers to know it
 * to 2%: a few for equal answers, up to 1024 for mixed ones). A new reference takes two signs, a
 * probe the windows called for and its result: faster, it replaces the reference; slower, it does
 * only if its latency fell less than in-flight did from the window before it (queue-bound latency
 * falls in proportion to in-flight; an endpoint that got slower answers as slowly at the cap as at
 * the limit); otherwise the probe met the endpoint's queue (it has fewer slots), the reference
 * stands and the limit goes below the probe's cap.
 *
 * - 429 / 503: limit x 0.7, once per congestion event (throttled answers to requests sent before the
 *   last back-off are the same event, not twenty). A timeout (no answer within the client's
 *   deadline: the endpoint hangs, or is overloaded far past any queue the rule allows): the limit
 *   falls to `min`, as TCP's window does on a retransmission timeout; once a window answers at the
 *   reference again, the limit it had before the timeouts is restored at once. Other errors (500,
 *   connection refused) say nothing about load and leave the limit alone.
 * The limit never exceeds `ceiling` (the `concurrency` setting) and never drops below `min`.
 * Each answer costs O(1) (running sums; the quantiles of `snapshot()` are sorted on demand).
 * Simulated over hours in test/unit/runtime/limiter-hours-*.test.ts (the simulator: limiter-sim.ts).
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
  /**
   * Least time between two scheduled probes of the reference latency, ms; the interval is also at
   * least PROBE_EVERY_ROUND_TRIPS reference latencies. Default 30 s. (Probes the windows call for
   * do not wait for it.)
   */
  probeIntervalMs?: number;
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
  /** The endpoint's latency without a queue as last measured, ms; 0 before the first window. */
  referenceMs: number;
  /** Milliseconds since the reference was measured (by a probe or the small start); 0 before. */
  referenceAgeMs: number;
  /** referenceMs under its former name. */
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
/**
 * A window also lasts until the standard error of its mean is within this share of the mean, so
 * that answers of very different costs on one endpoint (short and long prompts) do not read as a
 * queue coming and going; ...
 */
const WINDOW_PRECISION = 0.03;
/** ... or this share while the question is only whether the limit is past the slots at all (slow start, after timeouts, after a cut) ... */
const COARSE_PRECISION = 0.1;
/** ... but no longer than this many round trips. */
const MAX_WINDOW_ROUND_TRIPS = 32;
/** The most one window's latency may cut the limit (a noisy window should not collapse it). */
const MAX_CUT = 0.75;
/**
 * Latency a busy client adds by itself (event-loop lag, GC), ms: allowed on top of the ratios, so
 * that against a 20 ms endpoint a client's own jitter does not read as the endpoint's queue. It is
 * a few percent of a 200 ms answer and nothing against a 2 s one.
 */
const NOISE_MS = 5;
/**
 * ... but at most this share of the reference, so that the thresholds stay near 1.1 and 1.3 x the
 * reference for a fast endpoint too (5 ms on top of a 20 ms reference would let the limit hold up
 * to 1.8 x the slots). The lag the process measures is allowed in full.
 */
const NOISE_SHARE = 0.1;
/** A probe holds in-flight at most at this share of the limit ... */
const PROBE_DEPTH = 0.75;
/** ... and at most at this share of the slot count the window before it implies. */
const SLOT_SHARE = 0.9;
/** Requests a probe sends at its depth, at least (fewer if the depth is smaller) ... */
const PROBE_REQUESTS = 16;
/** ... and enough for a standard error within this share of the mean (by the spread of the answers behind the reference) ... */
const PROBE_PRECISION = 0.05;
/** ... up to this many, and this many round trips at the cap. */
const PROBE_MAX_REQUESTS = 1024;
const PROBE_MAX_ROUND_TRIPS = 2;
const PROBE_INTERVAL_MS = 30_000;
/**
 * A probe that agrees with the reference is pooled with it, as if the reference were the mean of
 * the answers it takes to know it to this share (PROBE_REQUESTS to REF_MEMORY): a few answers for
 * an endpoint whose answers cost the same, many for one whose answers differ, so that a probe of
 * unlucky draws (all short prompts) moves it little, and a drift is still followed.
 */
const REF_PRECISION = 0.02;
const REF_MEMORY = 1024;
/** Scheduled probes are at least this many reference latencies apart ... */
const PROBE_EVERY_ROUND_TRIPS = 25;
/** ... and this many times the time the last one held in-flight down. */
const PROBE_COST_RATIO = 20;
/** A window this much faster than the reference says the endpoint got faster: probe at once. */
const FASTER_BELOW = 0.8;
/**
 * A probe slower than the reference is believed when (probe mean / window mean) exceeds
 * (probe depth / window limit) by this factor: latency that only reflects a queue falls in
 * proportion to in-flight (ratio 1); without a queue it does not fall at all (ratio 1 / depth).
 */
const NOT_PROPORTIONAL = 1.05;
/** Standard errors a difference must exceed to count as one. */
const Z = 2;

/**
 * Requests granted together whose answers are judged together: a window, or a probe. Grouped by
 * grant, not by answer: the first answers back are the cheapest requests, so a window of the first
 * n answers would read short prompts as a short queue.
 */
interface Sample {
  probe: boolean;
  /** The limit when it opened. */
  limit: number;
  openedAt: number;
  granted: number;
  answered: number;
  /** Answers that were ok, the sum and sum of squares of their latencies. */
  n: number;
  sum: number;
  sq: number;
  /** No more grants join it. */
  closed: boolean;
  /** False once dropped (the limit changed before it was judged) or judged: later answers are nobody's. */
  live: boolean;
  /** Demand reached the limit while it took grants. */
  limited: boolean;
  /** A probe's in-flight cap, and how many requests it sends at it. */
  cap: number;
  want: number;
  /** The window before a probe, and what called for it: the schedule, or windows that say the endpoint got slower or faster. */
  pre?: Judged;
  reason: 'scheduled' | 'slower' | 'faster';
}

interface Judged {
  n: number;
  mean: number;
  /** Standard error of the mean. */
  se: number;
  limit: number;
}

type Grantee = (permit: Permit) => void;

/** A permit: a class rather than a closure, one object per request. */
class Grant implements Permit {
  private released = false;
  constructor(
    private readonly limiter: AdaptiveLimiter,
    readonly started: number,
    readonly seq: number,
    readonly sample: Sample,
  ) {}

  release(outcome: Outcome): void {
    if (this.released) return;
    this.released = true;
    this.limiter['finish'](this, outcome);
  }
}

export class AdaptiveLimiter {
  private limitValue: number;
  private ceilingValue: number;
  private readonly min: number;
  private readonly now: () => number;
  private readonly probeIntervalMs: number;
  private readonly clientLagMs: () => number;
  private inFlightCount = 0;
  /** Requests may be granted while in flight is below this (the limit, or a probe's cap). */
  private open: number;
  /** FIFO of waiting requests: entries before `waitHead` are gone. */
  private waiters: Array<Grantee | undefined> = [];
  private waitHead = 0;
  private slowStart = true;
  /** Grants so far; a throttled answer backs off only if its request was granted after the last back-off. */
  private grants = 0;
  private backoffSeq = 0;
  /** The window taking grants, and those closed but not all answered. */
  private window: Sample;
  private pending: Sample[] = [];
  /** Spread (coefficient of variation) of recent windows' latencies: sizes the next windows. */
  private spread = 0;
  /** The reference, the standard error it was measured with, and when. */
  private refMs = Infinity;
  private refSe = 0;
  /** Spread (coefficient of variation) of the answers it was measured from: no queue in them, the endpoint's own. */
  private refCv = 0;
  /** Answers behind the reference. */
  private refN = 0;
  private refAt = 0;
  /** Answers of the small start's windows: the first reference. */
  private startN = 0;
  private startSum = 0;
  private startSq = 0;
  private probe: Sample | undefined;
  private lastProbeAt: number;
  /** How long the last probe held in-flight down, ms. */
  private lastProbeCost = 0;
  /** Consecutive windows that called for a cut. */
  private cutsInRow = 0;
  /** The limit before a timeout sent it to `min`; 0 when none is pending. */
  private restoreLimit = 0;
  private readonly recent: number[] = [];
  private recentNext = 0;
  throttles = 0;
  timeouts = 0;

  constructor(options: LimiterOptions) {
    if (!Number.isInteger(options.ceiling) || options.ceiling < 1) throw new RangeError(`limiter ceiling must be a positive integer, got ${options.ceiling}`);
    this.ceilingValue = options.ceiling;
    this.min = Math.min(options.min ?? 1, options.ceiling);
    this.limitValue = clamp(options.initial ?? 4, this.min, options.ceiling);
    this.open = Math.floor(this.limitValue);
    this.now = options.now;
    this.probeIntervalMs = options.probeIntervalMs ?? PROBE_INTERVAL_MS;
    this.clientLagMs = options.clientLagMs ?? (() => 0);
    this.lastProbeAt = options.now();
    this.window = this.sample(false);
  }

  /** The current limit (whole requests). A probe holds in-flight below it for a moment; the limit stays. */
  get limit(): number {
    return Math.floor(this.limitValue);
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  get waiting(): number {
    return this.waiters.length - this.waitHead;
  }

  /** The endpoint's latency without a queue as last measured, ms; 0 before the first window. */
  get referenceMs(): number {
    return Number.isFinite(this.refMs) ? this.refMs : 0;
  }

  /** Milliseconds since the reference was measured; 0 before the first window. */
  get referenceAgeMs(): number {
    return Number.isFinite(this.refMs) ? this.now() - this.refAt : 0;
  }

  /** referenceMs under its former name. */
  get floorMs(): number {
    return this.referenceMs;
  }

  /** Lowers (never raises above the first configured value) the ceiling: clients sharing an endpoint keep the strictest. */
  lowerCeiling(ceiling: number): void {
    if (ceiling >= this.ceilingValue) return;
    this.ceilingValue = Math.max(1, ceiling);
    this.limitValue = Math.min(this.limitValue, this.ceilingValue);
    this.restoreLimit = Math.min(this.restoreLimit, this.ceilingValue);
    this.reopen();
  }

  /** Resolves when a request may be sent (FIFO). */
  acquire(): Promise<Permit> {
    if (this.inFlightCount < this.open && this.waiting === 0) return Promise.resolve(this.grant());
    this.window.limited = true;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * acquire() without the promise: calls `onGrant` with the permit as soon as a request may be sent
   * (FIFO), synchronously if one may be sent now. For callers that count every microtask (the
   * simulations drive hundreds of millions of requests through it).
   */
  acquireWith(onGrant: (permit: Permit) => void): void {
    if (this.inFlightCount < this.open && this.waiting === 0) return onGrant(this.grant());
    this.window.limited = true;
    this.waiters.push(onGrant);
  }

  snapshot(): LimiterSnapshot {
    const sorted = [...this.recent].sort((a, b) => a - b);
    return {
      limit: this.limit,
      ceiling: this.ceilingValue,
      inFlight: this.inFlightCount,
      waiting: this.waiting,
      referenceMs: this.referenceMs,
      referenceAgeMs: this.referenceAgeMs,
      floorMs: this.referenceMs,
      p50Ms: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
      throttles: this.throttles,
      timeouts: this.timeouts,
    };
  }

  private sample(probe: boolean): Sample {
    return {
      probe,
      limit: this.limit,
      openedAt: this.now(),
      granted: 0,
      answered: 0,
      n: 0,
      sum: 0,
      sq: 0,
      closed: false,
      live: true,
      limited: this.waiting > 0 || this.inFlightCount >= this.open,
      cap: 0,
      want: 0,
      reason: 'scheduled',
    };
  }

  private grant(): Permit {
    this.inFlightCount++;
    const t = this.now();
    const p = this.probe;
    let s: Sample;
    if (p !== undefined && !p.closed) {
      s = p;
      if (++p.granted >= p.want) this.uncap(p);
    } else {
      s = this.window;
      if (s.granted++ === 0) s.openedAt = t;
      if (this.inFlightCount >= this.open) s.limited = true;
      // about one round trip of requests; a fast endpoint's window also spans MIN_WINDOW requests or
      // MIN_WINDOW_MS, so that a garbage-collection pause or a busy CPU is averaged, not acted on;
      // and answers of unequal cost are averaged until their mean is known to WINDOW_PRECISION
      const n = s.granted;
      const trip = Math.max(4, s.limit);
      const precision = this.slowStart || this.restoreLimit > 0 || this.cutsInRow > 0 ? COARSE_PRECISION : WINDOW_PRECISION;
      if (n >= trip && (n >= MIN_WINDOW || t - s.openedAt >= MIN_WINDOW_MS) && (n >= (this.spread / precision) ** 2 || n >= MAX_WINDOW_ROUND_TRIPS * trip)) {
        s.closed = true;
        this.pending.push(s);
        this.window = this.sample(false);
      }
    }
    return new Grant(this, t, this.grants++, s);
  }

  /** A permit's release (Grant calls it once). */
  private finish(grant: Grant, outcome: Outcome): void {
    this.inFlightCount--;
    this.settle(outcome, this.now() - grant.started, grant.seq, grant.sample);
    this.admitWaiting();
  }

  private admitWaiting(): void {
    while (this.waitHead < this.waiters.length && this.inFlightCount < this.open) {
      const next = this.waiters[this.waitHead]!;
      this.waiters[this.waitHead++] = undefined;
      if (this.waitHead === this.waiters.length) {
        this.waiters.length = 0;
        this.waitHead = 0;
      } else if (this.waitHead >= 1024 && this.waitHead * 2 >= this.waiters.length) {
        this.waiters = this.waiters.slice(this.waitHead);
        this.waitHead = 0;
      }
      next(this.grant());
    }
  }

  private settle(outcome: Outcome, latencyMs: number, seq: number, s: Sample): void {
    if (outcome === 'ok') {
      this.recent[this.recentNext] = latencyMs;
      this.recentNext = (this.recentNext + 1) % RECENT;
    }
    if (s.live) {
      s.answered++;
      if (outcome === 'ok') {
        s.n++;
        s.sum += latencyMs;
        s.sq += latencyMs * latencyMs;
      }
      if (s.closed && s.answered >= s.granted) {
        s.live = false;
        if (s.probe) this.endProbe(s);
        else {
          this.pending.splice(this.pending.indexOf(s), 1);
          if (s.n > 0) this.endWindow(s);
        }
      }
    }
    if (outcome === 'throttled' || outcome === 'timeout') {
      if (outcome === 'throttled') this.throttles++;
      else this.timeouts++;
      if (seq >= this.backoffSeq) {
        if (outcome === 'timeout') this.dropToMin();
        else this.backOff();
      }
    }
  }

  private backOff(): void {
    this.slowStart = false;
    this.backoffSeq = this.grants;
    this.setLimit(Math.max(this.min, this.limitValue * BACKOFF));
  }

  private dropToMin(): void {
    this.slowStart = false;
    this.backoffSeq = this.grants;
    this.restoreLimit = Math.max(this.restoreLimit, this.limitValue);
    if (this.probe !== undefined) this.probe.live = false;
    this.probe = undefined;
    this.cutsInRow = 0;
    this.setLimit(this.min);
  }

  private setLimit(value: number): void {
    this.limitValue = value;
    this.reopen();
    this.restartWindows();
  }

  /** Drops the windows not yet judged (their requests were sent under another limit or probe phase) and opens a new one. */
  private restartWindows(): void {
    this.window.live = false;
    for (const s of this.pending) s.live = false;
    this.pending.length = 0;
    this.window = this.sample(false);
  }

  private reopen(): void {
    const p = this.probe;
    const limit = Math.floor(this.limitValue);
    this.open = p !== undefined && !p.closed ? Math.min(p.cap, limit) : limit;
  }

  /** What this client may add to a latency by itself, ms (see NOISE_MS). */
  private noise(): number {
    return Math.min(NOISE_MS, NOISE_SHARE * this.refMs) + this.clientLagMs();
  }

  private setReference(ms: number, se: number, cv: number, t: number, n: number): void {
    this.refMs = ms;
    this.refSe = se;
    this.refCv = cv;
    this.refN = n;
    this.refAt = t;
  }

  private probeDue(t: number): boolean {
    return (
      this.probe === undefined &&
      !this.slowStart &&
      t - this.lastProbeAt >= Math.max(this.probeIntervalMs, PROBE_EVERY_ROUND_TRIPS * this.refMs, PROBE_COST_RATIO * this.lastProbeCost)
    );
  }

  /**
   * Holds in-flight below the slot count until enough requests are sent; false if the limit is too
   * small to go lower. The slots are estimated from the window before: S ~ limit x reference / mean
   * (what Little's law gives for a queue-bound window; no more than the limit otherwise). The cap is
   * 9/10 of that, and at most PROBE_DEPTH x the limit: below S while the reference is within 11% of
   * the truth, and an inflated reference is deflated by about a tenth per probe.
   */
  private startProbe(pre: Judged, t: number, reason: Sample['reason']): boolean {
    // (the reference's own uncertainty counted against it: an unsure reference probes deeper)
    const slots = (pre.limit * Math.max(0, this.refMs - Z * this.refSe)) / pre.mean;
    const cap = Math.max(this.min, Math.floor(Math.min(this.limit * PROBE_DEPTH, SLOT_SHARE * slots)));
    if (cap >= this.limit) return false;
    // answers as variable as those the reference was measured from need this many for PROBE_PRECISION
    const probe = this.sample(true);
    probe.cap = cap;
    probe.want = Math.max(Math.min(cap, PROBE_REQUESTS), Math.min(PROBE_MAX_REQUESTS, PROBE_MAX_ROUND_TRIPS * cap, Math.ceil((this.refCv / PROBE_PRECISION) ** 2)));
    probe.pre = pre;
    probe.reason = reason;
    this.probe = probe;
    this.lastProbeAt = t;
    this.cutsInRow = 0;
    this.reopen();
    this.restartWindows();
    return true;
  }

  private uncap(probe: Sample): void {
    probe.closed = true;
    this.lastProbeCost = this.now() - probe.openedAt;
    this.reopen();
    this.restartWindows();
  }

  private endProbe(probe: Sample): void {
    this.probe = undefined;
    const t = this.now();
    this.lastProbeAt = t;
    this.cutsInRow = 0;
    if (probe.n === 0) return;
    const mean = probe.sum / probe.n;
    const sd = Math.sqrt(variance(probe.n, probe.sum, probe.sq));
    const cv = sd / mean;
    // (a few answers of unequal cost can look alike: their spread is at least the reference's)
    const se = (Math.max(cv, this.refCv) * mean) / Math.sqrt(probe.n);
    const ref = this.refMs;
    const noise = this.noise();
    const spread = ref * (GROW_BELOW - 1) + noise + Z * Math.hypot(se, this.refSe);
    // a new reference takes two signs: windows that called for the probe, and the probe
    if (probe.reason === 'faster' && mean < ref - spread) return this.setReference(mean, se, cv, t, probe.n);
    const pre = probe.pre!;
    const rho = (mean / pre.mean) * (pre.limit / probe.cap);
    const rhoSe = rho * Math.hypot(se / mean, pre.se / pre.mean);
    if (probe.reason !== 'slower' || mean <= ref + spread) {
      // the same endpoint: the answers are pooled with those behind the reference
      const memory = Math.min(REF_MEMORY, Math.max(PROBE_REQUESTS, Math.ceil((this.refCv / REF_PRECISION) ** 2)));
      const n = Math.max(0, Math.min(this.refN, memory - probe.n));
      const pooled = (ref * n + mean * probe.n) / (n + probe.n);
      const pooledCv = (this.refCv * n + cv * probe.n) / (n + probe.n);
      return this.setReference(pooled, (pooledCv * pooled) / Math.sqrt(n + probe.n), pooledCv, t, n + probe.n);
    }
    // slower than the reference: believed if the latency fell less than in-flight did
    if (rho >= NOT_PROPORTIONAL + Z * rhoSe) return this.setReference(mean, se, cv, t, probe.n);
    // latency fell with in-flight: the probe met the endpoint's queue too (it has fewer slots than
    // the limit thought); the reference stands and the limit goes below the probe's depth
    const cut = probe.cap * Math.max(MAX_CUT, (ref * SETTLE_AT + noise) / mean);
    if (cut < this.limitValue) this.setLimit(Math.max(this.min, cut));
  }

  private endWindow(s: Sample): void {
    const n = s.n;
    const mean = s.sum / n;
    const sd = Math.sqrt(variance(n, s.sum, s.sq));
    const w: Judged = { n, mean, se: Math.max(sd, this.refCv * mean) / Math.sqrt(n), limit: s.limit };
    const limited = s.limited;
    this.spread = this.spread === 0 ? sd / mean : 0.75 * this.spread + 0.25 * (sd / mean);
    const t = this.now();
    const noise = this.noise();
    if (this.slowStart) {
      // the small start measures the endpoint without a queue (its first window is below any slot
      // count): its windows make the first reference until one is clearly slower (past the slots)
      // (both standard errors from the spread within the two, pooled: a small first window of cheap
      // requests would otherwise claim a precision it does not have)
      const m = this.startN;
      const within = m > 0 ? Math.sqrt(((m - 1) * variance(m, this.startSum, this.startSq) + (n - 1) * sd * sd) / Math.max(1, m + n - 2)) : sd;
      if (!(mean > this.refMs * GROW_BELOW + noise + Z * within * Math.sqrt(1 / n + 1 / Math.max(1, m)))) {
        const N = m + n;
        this.startN = N;
        this.startSum += s.sum;
        this.startSq += s.sq;
        const all = Math.sqrt(variance(N, this.startSum, this.startSq));
        this.setReference(this.startSum / N, all / Math.sqrt(N), (all * N) / this.startSum, t, Math.min(N, REF_MEMORY));
        if (limited) this.setLimit(Math.min(this.ceilingValue, this.limitValue * 2));
        return;
      }
      this.slowStart = false;
    }
    const ref = this.refMs;
    const se = Math.hypot(w.se, this.refSe);
    if (this.restoreLimit > 0 && mean <= ref * GROW_BELOW + noise + Z * se) {
      // the endpoint answers as it did before the timeouts: back to the limit it had then
      const restore = Math.min(this.ceilingValue, this.restoreLimit);
      this.restoreLimit = 0;
      this.cutsInRow = 0;
      if (restore > this.limitValue) return this.setLimit(restore);
    }
    if (mean > ref * SHRINK_ABOVE + 2 * noise + Z * se) {
      if (++this.cutsInRow >= 2 && this.probe === undefined) {
        // the last cut did not take the latency back: the endpoint got slower, or has fewer slots
        if (this.startProbe(w, t, 'slower')) return;
        // at the least in-flight allowed: what it measures is the endpoint's own latency
        this.cutsInRow = 0;
        return this.setReference(mean, w.se, sd / mean, t, n);
      }
      return this.setLimit(Math.max(this.min, this.limitValue * Math.max(MAX_CUT, (ref * SETTLE_AT + noise) / mean)));
    }
    this.cutsInRow = 0;
    if (mean < ref * FASTER_BELOW - noise - Z * se && this.probe === undefined) {
      // the endpoint got faster: measure how fast
      if (limited && this.startProbe(w, t, 'faster')) return;
      if (this.limit <= this.min) this.setReference(mean, w.se, sd / mean, t, n);
    }
    if (mean <= ref * GROW_BELOW + noise) {
      // without demand at the limit the window says nothing about what more would do
      if (!limited) return;
      if (this.probeDue(t) && this.startProbe(w, t, 'scheduled')) return;
      this.setLimit(Math.min(this.ceilingValue, this.limitValue + Math.max(1, this.limitValue * 0.05)));
    } else if (limited && this.probeDue(t)) this.startProbe(w, t, 'scheduled');
  }
}

/** Sample variance from the count, sum and sum of squares. */
function variance(n: number, sum: number, sq: number): number {
  return n > 1 ? Math.max(0, (sq - (sum * sum) / n) / (n - 1)) : 0;
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, x));
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
