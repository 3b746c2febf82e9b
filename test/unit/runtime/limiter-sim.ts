/**
 * A discrete-event simulation of one model endpoint driven through the real AdaptiveLimiter, on a
 * simulated clock (nothing sleeps), fast enough for hours of a 12,800 requests/s endpoint.
 *
 * The endpoint: `slots` requests served at once, each for its class's service time (times the speed
 * factor in force when its service starts, times 1 +- `jitter`); the rest wait in a FIFO queue, so
 * latency grows with the queue as vLLM's does past its batch size. Past `queueBound` waiting
 * requests it answers 429 at once. During a stall it makes no progress (requests in service
 * freeze, nothing starts) and then resumes where it was. A request whose client gave up (timeout)
 * is dropped by the server, as vLLM aborts a request whose connection closed.
 *
 * The client: demand as llm-flow.ts makes it, `waiting` (WAITING_TARGET) requests always waiting
 * for a permit (a stage admits another record whenever fewer wait), so a grant is followed at once
 * by a new waiter; each request times out `timeoutMs` (120 s) after its grant. No client lag.
 *
 * Time is whole milliseconds (service times are rounded), so requests that finish at the same
 * instant share one event: completions sit in a calendar of per-millisecond buckets (instants
 * further out than its horizon wait in a binary heap). Per request everything is O(1).
 *
 * Figures come per window of `windowMs` (10 min), and per `fineWindowMs` if asked: slot
 * utilization (busy slot-time / slots x time; a stalled endpoint's slots are not busy), the lowest
 * and highest limit in force, each class's latency quantiles as multiples of the request's own
 * service time (what it would have taken without a queue: the TRUE no-queue latency, not the
 * limiter's estimate), answers, timeouts and 429s, and the reference the limiter holds.
 */
import { AdaptiveLimiter, type LimiterOptions, type Outcome, type Permit } from '../../../services/runtime/limiter.ts';
import { AUTO_CEILING } from '../../../services/runtime/limiters.ts';
import { WAITING_TARGET } from '../../../services/runtime/llm-flow.ts';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

export interface RequestClass {
  name: string;
  /** Service time on the unloaded endpoint, ms. */
  serviceMs: number;
  /** Share of the requests (weights are normalized). */
  weight: number;
}

export interface SimOptions {
  slots: number;
  /** One service time (ms), or request classes drawn at random per request. */
  service: number | RequestClass[];
  durationMs: number;
  /** Default AUTO_CEILING. */
  ceiling?: number;
  /** Requests always waiting for a permit. Default WAITING_TARGET. */
  waiting?: number;
  /** Default 120 s. */
  timeoutMs?: number;
  /** From `atMs` on, a request starting service takes `factor` x its class's time. */
  speed?: Array<{ atMs: number; factor: number }>;
  /** From `atMs` on, the endpoint serves this many at once. */
  slotsAt?: Array<{ atMs: number; slots: number }>;
  /** The endpoint makes no progress in [fromMs, toMs). */
  stall?: { fromMs: number; toMs: number };
  /** Requests that may wait in the endpoint's queue; past it, 429 at once. Default: unbounded. */
  queueBound?: number;
  /**
   * Each request's service time is its class's times a factor drawn uniformly from 1 +- jitter
   * (then rounded to whole ms): real answers vary, and without it every slot would finish at the
   * same instants forever (lockstep), which no server does. Default 0.1.
   */
  jitter?: number;
  /** Default 10 min. */
  windowMs?: number;
  /** Also figures per window of this length (`fine`). */
  fineWindowMs?: number;
  seed?: number;
  limiter?: Partial<Omit<LimiterOptions, 'now' | 'ceiling'>>;
}

export interface ClassWindow {
  answers: number;
  /** Latency quantiles of the class's answers as multiples of each request's own service time, 0.01 resolution, rounded up. */
  p50: number;
  p99: number;
  max: number;
}

export interface SimWindow {
  fromMs: number;
  toMs: number;
  utilization: number;
  limitMin: number;
  limitMax: number;
  answers: number;
  timeouts: number;
  throttles: number;
  classes: Record<string, ClassWindow>;
  /** The limiter's reference at the window's end, ms. */
  referenceMs: number;
}

export interface SimResult {
  windows: SimWindow[];
  fine: SimWindow[];
  /** Requests granted. */
  requests: number;
  outcomes: Record<Outcome, number>;
  maxInFlight: number;
  limiter: AdaptiveLimiter;
  /** The lowest limit in force during the stall. */
  stallLimitMin: number;
}

const QUEUED = 1;
const SERVING = 2;
const DONE = 3;
const CANCELLED = 4;
const REJECTED = 5;
/** Latency / service time resolution of the histograms, and their range. */
const RES = 100;
const MAX_RATIO = 50;
const BUCKETS = RES * MAX_RATIO + 1;
/** Milliseconds of the completion calendar (a power of two, above any service time simulated). */
const HORIZON = 1 << 16;

/** Figures of one window length. */
class Accumulator {
  readonly windows: SimWindow[] = [];
  readonly hist: Uint32Array[];
  from = 0;
  last = 0;
  busy = 0;
  limitMin: number;
  limitMax: number;
  answers = 0;
  timeouts = 0;
  throttles = 0;

  constructor(
    readonly lengthMs: number,
    private readonly classes: RequestClass[],
    limit: number,
  ) {
    this.hist = classes.map(() => new Uint32Array(BUCKETS));
    this.limitMin = this.limitMax = limit;
  }

  /** Time passes to t with `busy` slots busy (`productive` false while stalled); closes the windows that end on the way. */
  advance(t: number, busy: number, productive: boolean, slots: number, limit: number, referenceMs: number): void {
    while (t >= this.from + this.lengthMs) {
      const end = this.from + this.lengthMs;
      if (productive) this.busy += busy * (end - this.last);
      this.close(end, slots, referenceMs);
      this.limitMin = this.limitMax = limit;
    }
    if (productive) this.busy += busy * (t - this.last);
    this.last = t;
  }

  private close(to: number, slots: number, referenceMs: number): void {
    const classes: Record<string, ClassWindow> = {};
    this.classes.forEach((c, i) => {
      const h = this.hist[i]!;
      let n = 0;
      for (let k = 0; k < BUCKETS; k++) n += h[k]!;
      classes[c.name] = { answers: n, p50: quantile(h, n, 0.5), p99: quantile(h, n, 0.99), max: quantile(h, n, 1) };
      h.fill(0);
    });
    this.windows.push({
      fromMs: this.from,
      toMs: to,
      utilization: this.busy / (slots * (to - this.from)),
      limitMin: this.limitMin,
      limitMax: this.limitMax,
      answers: this.answers,
      timeouts: this.timeouts,
      throttles: this.throttles,
      classes,
      referenceMs,
    });
    this.from = this.last = to;
    this.busy = this.answers = this.timeouts = this.throttles = 0;
  }
}

function quantile(h: Uint32Array, n: number, q: number): number {
  const rank = Math.max(1, Math.ceil(q * n));
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    seen += h[i]!;
    if (seen >= rank) return i === BUCKETS - 1 ? Infinity : i / RES;
  }
  return n === 0 ? 0 : Infinity;
}

export function simulate(o: SimOptions): SimResult {
  const classes: RequestClass[] = typeof o.service === 'number' ? [{ name: 'all', serviceMs: o.service, weight: 1 }] : o.service;
  const totalWeight = classes.reduce((a, c) => a + c.weight, 0);
  const cumulative = classes.map((_, i) => classes.slice(0, i + 1).reduce((a, c) => a + c.weight, 0) / totalWeight);
  const classMs = classes.map((c) => c.serviceMs);
  let slots = o.slots;
  const slotsAt = [...(o.slotsAt ?? [])].sort((a, b) => a.atMs - b.atMs);
  const waitTarget = o.waiting ?? WAITING_TARGET;
  const timeoutMs = o.timeoutMs ?? 120_000;
  const jitter = o.jitter ?? 0.1;
  const queueBound = o.queueBound ?? Infinity;
  const speed = [...(o.speed ?? [])].sort((a, b) => a.atMs - b.atMs);
  const stallFrom = o.stall?.fromMs ?? Infinity;
  const stallTo = o.stall?.toMs ?? Infinity;
  let rng = (o.seed ?? 1) >>> 0 || 1;
  const random = () => {
    rng ^= rng << 13;
    rng >>>= 0;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    rng >>>= 0;
    return rng / 4294967296;
  };

  let now = 0;
  const limiter = new AdaptiveLimiter({ ...o.limiter, ceiling: o.ceiling ?? AUTO_CEILING, now: () => now });
  const stalled = () => now >= stallFrom && now < stallTo;

  // requests, in a ring indexed by id & mask; ids are granted in order, `head` is the oldest unfinished
  let cap = 1 << 12;
  let mask = cap - 1;
  let ids = new Float64Array(cap).fill(-1);
  let sentAt = new Float64Array(cap);
  let serviceOf = new Float64Array(cap);
  let classOf = new Uint8Array(cap);
  let stateOf = new Uint8Array(cap);
  let permits: Array<Permit | undefined> = new Array(cap);
  let nextId = 0;
  let head = 0;
  const grow = () => {
    const bigger = cap * 2;
    const m = bigger - 1;
    const nIds = new Float64Array(bigger).fill(-1);
    const nSent = new Float64Array(bigger);
    const nService = new Float64Array(bigger);
    const nClass = new Uint8Array(bigger);
    const nState = new Uint8Array(bigger);
    const nPermits: Array<Permit | undefined> = new Array(bigger);
    for (let i = 0; i < cap; i++) {
      const id = ids[i]!;
      if (id < 0) continue;
      const j = id & m;
      nIds[j] = id;
      nSent[j] = sentAt[i]!;
      nService[j] = serviceOf[i]!;
      nClass[j] = classOf[i]!;
      nState[j] = stateOf[i]!;
      nPermits[j] = permits[i];
    }
    ids = nIds;
    sentAt = nSent;
    serviceOf = nService;
    classOf = nClass;
    stateOf = nState;
    permits = nPermits;
    cap = bigger;
    mask = m;
  };

  // the endpoint's FIFO queue of ids (entries of cancelled requests are skipped when reached)
  let queue = new Float64Array(1 << 10);
  let qHead = 0;
  let qTail = 0;
  let queued = 0;
  const qPush = (id: number) => {
    if (qTail === queue.length) {
      if (qHead > 0) {
        queue.copyWithin(0, qHead, qTail);
        qTail -= qHead;
        qHead = 0;
      }
      if (qTail === queue.length) {
        const q = new Float64Array(queue.length * 2);
        q.set(queue);
        queue = q;
      }
    }
    queue[qTail++] = id;
  };
  let busy = 0;

  // completions: a calendar of buckets, one per millisecond of the next HORIZON ms (a bucket keeps
  // its array and a count, so it is never reallocated), and a heap of instants further out, moved
  // into the calendar as the clock nears them
  const buckets: number[][] = Array.from({ length: HORIZON }, () => []);
  const counts = new Int32Array(HORIZON);
  let near = 0;
  let cursor = 0;
  const far: number[] = [];
  const farIds = new Map<number, number[]>();
  const heapPush = (t: number) => {
    let i = far.length;
    far.push(t);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (far[parent]! <= t) break;
      far[i] = far[parent]!;
      i = parent;
    }
    far[i] = t;
  };
  const heapPop = (): number => {
    const top = far[0]!;
    const last = far.pop()!;
    const n = far.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && far[r]! < far[l]! ? r : l;
        if (far[c]! >= last) break;
        far[i] = far[c]!;
        i = c;
      }
      far[i] = last;
    }
    return top;
  };
  const schedule = (t: number, id: number) => {
    if (t - cursor < HORIZON) {
      const k = t & (HORIZON - 1);
      buckets[k]![counts[k]!++] = id;
      near++;
      return;
    }
    let b = farIds.get(t);
    if (b === undefined) {
      farIds.set(t, (b = []));
      heapPush(t);
    }
    b.push(id);
  };
  /** Moves the far instants that came within the horizon into the calendar. */
  const pullFar = () => {
    while (far.length > 0 && far[0]! - cursor < HORIZON) {
      const t = heapPop();
      const moving = farIds.get(t)!;
      farIds.delete(t);
      const k = t & (HORIZON - 1);
      const b = buckets[k]!;
      for (const id of moving) b[counts[k]!++] = id;
      near += moving.length;
    }
  };
  /** The next instant with completions, if before `until` (the cursor moves there); else Infinity. */
  const nextCompletion = (until: number): number => {
    for (;;) {
      if (near === 0) {
        if (far.length === 0 || far[0]! >= until) return Infinity;
        cursor = Math.max(cursor, far[0]! - HORIZON + 1);
        pullFar();
        continue;
      }
      while (cursor < until && counts[cursor & (HORIZON - 1)] === 0) {
        cursor++;
        if ((cursor & 1023) === 0) pullFar();
      }
      return cursor < until ? cursor : Infinity;
    }
  };

  let speedIndex = 0;
  let factor = 1;
  let nextSpeedAt = speed[0]?.atMs ?? Infinity;
  const start = (id: number) => {
    const s = id & mask;
    busy++;
    queued--;
    stateOf[s] = SERVING;
    if (now >= nextSpeedAt) {
      while (speedIndex < speed.length && speed[speedIndex]!.atMs <= now) factor = speed[speedIndex++]!.factor;
      nextSpeedAt = speed[speedIndex]?.atMs ?? Infinity;
    }
    const service = Math.max(1, Math.round(classMs[classOf[s]!]! * factor * (1 + jitter * (2 * random() - 1))));
    serviceOf[s] = service;
    schedule((now >= stallFrom && now < stallTo ? stallTo : now) + service, id);
  };
  const startNext = () => {
    while (busy < slots && qHead < qTail) {
      const id = queue[qHead++]!;
      if (qHead === qTail) qHead = qTail = 0;
      const s = id & mask;
      if (ids[s] === id && stateOf[s] === QUEUED) start(id);
    }
  };

  const advanceHead = () => {
    while (head < nextId) {
      const st = stateOf[head & mask]!;
      if (st === QUEUED || st === SERVING || st === REJECTED) break;
      head++;
    }
  };

  // timeouts: one pending check, at the oldest unfinished request's deadline or earlier
  let checkAt = Infinity;
  let maxInFlight = 0;
  const onGrant = (permit: Permit) => {
    if (nextId - head >= cap) grow();
    const id = nextId++;
    const s = id & mask;
    ids[s] = id;
    permits[s] = permit;
    sentAt[s] = now;
    let c = 0;
    if (classes.length > 1) {
      const x = random();
      while (c < cumulative.length - 1 && x >= cumulative[c]!) c++;
    }
    classOf[s] = c;
    if (limiter.inFlight > maxInFlight) maxInFlight = limiter.inFlight;
    if (busy >= slots && queued >= queueBound) {
      stateOf[s] = REJECTED;
      schedule(now + 1, id);
      return;
    }
    stateOf[s] = QUEUED;
    queued++;
    qPush(id);
    startNext();
    if (checkAt === Infinity) checkAt = now + timeoutMs;
  };

  const accs = [new Accumulator(o.windowMs ?? 10 * MINUTE, classes, limiter.limit)];
  if (o.fineWindowMs !== undefined) accs.push(new Accumulator(o.fineWindowMs, classes, limiter.limit));
  const main = accs[0]!;
  const outcomes: Record<Outcome, number> = { ok: 0, throttled: 0, timeout: 0, error: 0 };

  const complete = (id: number) => {
    const s = id & mask;
    if (ids[s] !== id) return;
    const st = stateOf[s];
    if (st === REJECTED) {
      stateOf[s] = DONE;
      const permit = permits[s]!;
      permits[s] = undefined;
      if (id === head) advanceHead();
      outcomes.throttled++;
      for (const a of accs) a.throttles++;
      return permit.release('throttled');
    }
    if (st !== SERVING) return;
    stateOf[s] = DONE;
    busy--;
    const ratio = (now - sentAt[s]!) / serviceOf[s]!;
    const bucket = ratio >= MAX_RATIO ? BUCKETS - 1 : Math.ceil(ratio * RES - 1e-9);
    main.hist[classOf[s]!]![bucket]!++;
    main.answers++;
    for (let i = 1; i < accs.length; i++) {
      accs[i]!.hist[classOf[s]!]![bucket]!++;
      accs[i]!.answers++;
    }
    const permit = permits[s]!;
    permits[s] = undefined;
    if (id === head) advanceHead();
    startNext();
    outcomes.ok++;
    permit.release('ok');
  };

  const timeOut = () => {
    advanceHead();
    while (head < nextId) {
      const s = head & mask;
      if (sentAt[s]! + timeoutMs > now) break;
      const st = stateOf[s]!;
      if (st === QUEUED || st === SERVING) {
        stateOf[s] = CANCELLED;
        if (st === SERVING) busy--;
        else queued--;
        const permit = permits[s]!;
        permits[s] = undefined;
        outcomes.timeout++;
        for (const a of accs) a.timeouts++;
        permit.release('timeout');
      }
      head++;
      advanceHead();
    }
    startNext();
    checkAt = head < nextId ? sentAt[head & mask]! + timeoutMs : Infinity;
  };

  const topUp = () => {
    while (limiter.waiting < waitTarget) limiter.acquireWith(onGrant);
  };
  let stallLimitMin = Infinity;
  const noteLimit = () => {
    const l = limiter.limit;
    for (const a of accs) {
      if (l < a.limitMin) a.limitMin = l;
      if (l > a.limitMax) a.limitMax = l;
    }
    if (l < stallLimitMin && stalled()) stallLimitMin = l;
  };

  let stallBegun = stallFrom === Infinity;
  let stallEnded = stallTo === Infinity;
  let slotsIndex = 0;
  topUp();
  noteLimit();
  for (;;) {
    const control = Math.min(checkAt, stallBegun ? Infinity : stallFrom, stallEnded ? Infinity : stallTo, slotsAt[slotsIndex]?.atMs ?? Infinity, o.durationMs);
    const completion = nextCompletion(control + 1);
    const t = Math.min(completion, control);
    if (t >= o.durationMs) break;
    const productive = !stalled();
    for (const a of accs) a.advance(t, busy, productive, slots, limiter.limit, limiter.referenceMs);
    now = t;
    if (t === completion) {
      const k = t & (HORIZON - 1);
      const b = buckets[k]!;
      // (completions never add to this instant's bucket: service times are 1 ms at least)
      const count = counts[k]!;
      for (let i = 0; i < count; i++) complete(b[i]!);
      near -= count;
      counts[k] = 0;
    } else if (t === checkAt) {
      timeOut();
    } else if (t === stallTo && !stallEnded) {
      stallEnded = true; // (requests that waited for the end are already scheduled from it)
    } else if (t === stallFrom && !stallBegun) {
      // the stall begins: whatever is in service finishes that much later
      stallBegun = true;
      const d = stallTo - stallFrom;
      const moved: number[] = [];
      for (let k = 0; k < HORIZON; k++) {
        const j = (cursor + k) & (HORIZON - 1);
        const bucket = buckets[j]!;
        for (let i = 0; i < counts[j]!; i++) moved.push(cursor + k + d, bucket[i]!);
        near -= counts[j]!;
        counts[j] = 0;
      }
      const farMoved = [...farIds].map(([at, list]) => [at + d, list] as const);
      farIds.clear();
      far.length = 0;
      for (const [at, list] of farMoved) for (const id of list) schedule(at, id);
      for (let i = 0; i < moved.length; i += 2) schedule(moved[i]!, moved[i + 1]!);
    } else {
      slots = slotsAt[slotsIndex++]!.slots;
      startNext();
    }
    topUp();
    noteLimit();
  }
  for (const a of accs) a.advance(o.durationMs, busy, !stalled(), slots, limiter.limit, limiter.referenceMs);
  return { windows: main.windows, fine: accs[1]?.windows ?? [], requests: nextId, outcomes, maxInFlight, limiter, stallLimitMin };
}

export interface BandOptions {
  slots: number;
  /** Windows overlapping any of these [from, to) spans are not checked. Default: the first window. */
  exempt?: Array<[number, number]>;
  /** Only windows within [from, to) are checked. */
  within?: [number, number];
  /** Check p99 (off for windows too short to have a p99: one minute of a slow endpoint). Default true. */
  p99?: boolean;
}

export interface BandFigures {
  checked: number;
  worstUtilization: number;
  limitMin: number;
  limitMax: number;
  /** Highest p99 over the checked windows, per class, as a multiple of the service time. */
  worstP99: Record<string, number>;
  timeouts: number;
}

/**
 * The acceptance lines, per checked window: slot utilization >= 0.95, limit within 0.9-1.5 x the
 * slots (at least 2 for one slot), every class's p99 <= 2 x its own no-queue latency (each
 * request's own service time), no client timeout.
 */
export function checkBand(windows: SimWindow[], b: BandOptions): { failures: string[]; figures: BandFigures } {
  const exempt = b.exempt ?? [[0, windows[0]?.toMs ?? 0]];
  const [from, to] = b.within ?? [0, Infinity];
  const lo = 0.9 * b.slots;
  const hi = Math.max(2, 1.5 * b.slots);
  const failures: string[] = [];
  const figures: BandFigures = { checked: 0, worstUtilization: Infinity, limitMin: Infinity, limitMax: -Infinity, worstP99: {}, timeouts: 0 };
  for (const w of windows) {
    if (w.fromMs < from || w.toMs > to || exempt.some(([f, t]) => w.fromMs < t && w.toMs > f)) continue;
    figures.checked++;
    const at = `${clock(w.fromMs)}-${clock(w.toMs)}`;
    figures.worstUtilization = Math.min(figures.worstUtilization, w.utilization);
    figures.limitMin = Math.min(figures.limitMin, w.limitMin);
    figures.limitMax = Math.max(figures.limitMax, w.limitMax);
    figures.timeouts += w.timeouts;
    if (w.utilization < 0.95) failures.push(`${at}: utilization ${w.utilization.toFixed(3)} < 0.95`);
    if (w.limitMin < lo || w.limitMax > hi) failures.push(`${at}: limit ${w.limitMin}-${w.limitMax} outside ${lo}-${hi}`);
    if (w.timeouts > 0) failures.push(`${at}: ${w.timeouts} timeouts`);
    if (b.p99 === false) continue;
    for (const [name, c] of Object.entries(w.classes)) {
      figures.worstP99[name] = Math.max(figures.worstP99[name] ?? 0, c.p99);
      if (c.answers === 0) failures.push(`${at}: no answers of ${name}`);
      else if (c.p99 > 2) failures.push(`${at}: ${name} p99 ${c.p99} x its service time > 2`);
    }
  }
  if (figures.checked === 0) failures.push('no window checked');
  return { failures, figures };
}

/** One line of figures for the test log. */
export function figureLine(label: string, slots: number, f: BandFigures, r: SimResult, cpuMs: number): string {
  const p99 = Object.entries(f.worstP99)
    .map(([k, v]) => (k === 'all' ? `${v}` : `${k} ${v}`))
    .join(', ');
  return `${label}: worst utilization ${f.worstUtilization.toFixed(3)}, limit/slots ${(f.limitMin / slots).toFixed(2)}-${(f.limitMax / slots).toFixed(2)}, worst p99/service ${p99} (${f.checked} windows; ${(r.requests / 1e6).toFixed(1)}M requests, ${(cpuMs / 1000).toFixed(1)} s CPU)`;
}

export function clock(ms: number): string {
  const m = Math.round(ms / MINUTE);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}`;
}

/**
 * Runs one simulation, checks the acceptance lines over its 10-minute windows and logs its
 * figures (CPU time is this process's, so run one at a time per process: vitest's forks do).
 */
export function runChecked(label: string, sim: SimOptions, band: Omit<BandOptions, 'slots'> = {}): { result: SimResult; failures: string[]; figures: BandFigures } {
  const t0 = process.cpuUsage();
  const result = simulate(sim);
  const cpu = process.cpuUsage(t0);
  const { failures, figures } = checkBand(result.windows, { slots: sim.slots, ...band });
  console.log(figureLine(label, sim.slots, figures, result, (cpu.user + cpu.system) / 1000));
  return { result, failures, figures };
}

/** The grid's shape: 6 simulated hours, the demand and ceiling of `concurrency: auto`. */
export function sixHours(slots: number, serviceMs: number) {
  return runChecked(`${slots} slots x ${serviceMs} ms, 6 h`, { slots, service: serviceMs, durationMs: 6 * HOUR });
}
