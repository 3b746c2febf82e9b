import { describe, expect, it } from 'vitest';
import { AdaptiveLimiter, type Outcome } from '../../../services/runtime/limiter.ts';

/**
 * A model server on a simulated clock: `slots` requests served at once for `latencyMs` each, the
 * rest wait in a FIFO queue (latency grows with the queue, like vLLM past its batch size), or,
 * past `queueBound`, are answered 429 at once; `hang` answers nothing until the client times out.
 * Callers: `callers` loops of acquire -> request -> release, far more than any limit (closed loop).
 */
interface SimOptions {
  slots: number;
  latencyMs: number;
  ceiling: number;
  durationMs: number;
  queueBound?: number;
  callers?: number;
  /** From this time on, the endpoint serves only this many at once (a slower or shared server). */
  shrinkAt?: { atMs: number; slots: number };
  hangTimeoutMs?: number;
}

async function simulate(o: SimOptions) {
  let now = 0;
  const limiter = new AdaptiveLimiter({ ceiling: o.ceiling, now: () => now });
  const events: Array<{ at: number; seq: number; fn: () => void }> = [];
  let seq = 0;
  const at = (t: number, fn: () => void) => {
    events.push({ at: t, seq: seq++, fn });
    events.sort((a, b) => a.at - b.at || a.seq - b.seq);
  };
  let slots = o.slots;
  let busy = 0;
  const queue: Array<() => void> = [];
  let served = 0;
  let maxInFlight = 0;
  const latencies: number[] = [];
  const outcomes: Record<Outcome, number> = { ok: 0, throttled: 0, timeout: 0, error: 0 };
  const startNext = () => {
    while (busy < slots && queue.length > 0) {
      busy++;
      queue.shift()!();
    }
  };
  const request = (done: (outcome: Outcome) => void) => {
    const sent = now;
    if (o.hangTimeoutMs !== undefined) return at(now + o.hangTimeoutMs, () => done('timeout'));
    if (o.queueBound !== undefined && busy >= slots && queue.length >= o.queueBound) return at(now + 1, () => done('throttled'));
    queue.push(() =>
      at(now + o.latencyMs, () => {
        busy--;
        served++;
        latencies.push(now - sent);
        done('ok');
        startNext();
      }),
    );
    startNext();
  };
  const caller = async () => {
    while (now < o.durationMs) {
      const permit = await limiter.acquire();
      maxInFlight = Math.max(maxInFlight, limiter.inFlight);
      const outcome = await new Promise<Outcome>((resolve) => request(resolve));
      outcomes[outcome]++;
      permit.release(outcome);
    }
  };
  const running = Array.from({ length: o.callers ?? 600 }, caller);
  const limits: Array<{ t: number; limit: number }> = [];
  const flush = () => new Promise((r) => setImmediate(r));
  await flush();
  while (events.length > 0 && now < o.durationMs) {
    const e = events.shift()!;
    now = e.at;
    if (o.shrinkAt && now >= o.shrinkAt.atMs) slots = o.shrinkAt.slots;
    e.fn();
    await flush();
    limits.push({ t: now, limit: limiter.limit });
  }
  now = Infinity; // callers stop at their next loop
  void running;
  const after = (t: number) => limits.filter((l) => l.t >= t).map((l) => l.limit);
  const sorted = latencies.slice(Math.floor(latencies.length / 2)).sort((a, b) => a - b);
  return { limiter, served, maxInFlight, outcomes, after, p99SecondHalf: sorted[Math.floor(0.99 * sorted.length)] ?? 0 };
}

describe('AdaptiveLimiter on a simulated clock', () => {
  it('grows from its small start to the endpoint slot count, keeps the slots busy and latency near the floor', async () => {
    const r = await simulate({ slots: 64, latencyMs: 100, ceiling: 1024, durationMs: 20_000 });
    const late = r.after(10_000);
    expect(Math.min(...late)).toBeGreaterThanOrEqual(64);
    expect(Math.max(...late)).toBeLessThanOrEqual(Math.ceil(64 * 1.35));
    // capacity 640/s over 20 s = 12 800; the ramp from 8 costs well under a second
    expect(r.served).toBeGreaterThan(0.95 * 12_800);
    expect(r.p99SecondHalf).toBeLessThanOrEqual(2 * 100);
    expect(r.limiter.snapshot().floorMs).toBe(100);
  });

  it('settles near a small endpoint too (4 slots)', async () => {
    const r = await simulate({ slots: 4, latencyMs: 20, ceiling: 1024, durationMs: 4_000, callers: 50 });
    const late = r.after(2_000);
    expect(Math.min(...late)).toBeGreaterThanOrEqual(4);
    expect(Math.max(...late)).toBeLessThanOrEqual(6);
  });

  it('backs off when latency inflates: the endpoint drops from 64 to 16 slots', async () => {
    const r = await simulate({ slots: 64, latencyMs: 100, ceiling: 1024, durationMs: 20_000, shrinkAt: { atMs: 8_000, slots: 16 } });
    const late = r.after(14_000);
    expect(Math.min(...late)).toBeGreaterThanOrEqual(16);
    expect(Math.max(...late)).toBeLessThanOrEqual(Math.ceil(16 * 1.35));
  });

  it('backs off on 429 past a queue bound and serves without losing the slots', async () => {
    const r = await simulate({ slots: 16, latencyMs: 50, ceiling: 1024, durationMs: 10_000, queueBound: 2 });
    expect(r.outcomes.throttled).toBeGreaterThan(0);
    expect(r.limiter.throttles).toBe(r.outcomes.throttled);
    const late = r.after(5_000);
    expect(Math.max(...late)).toBeLessThanOrEqual(16 + 2 + 4);
    // capacity 320/s: throttling must not starve the endpoint
    expect(r.served).toBeGreaterThan(0.85 * 3200);
  });

  it('shrinks to its floor of 1 when the endpoint hangs, counting the timeouts', async () => {
    const r = await simulate({ slots: 16, latencyMs: 50, ceiling: 1024, durationMs: 120_000, hangTimeoutMs: 5_000, callers: 40 });
    expect(r.limiter.limit).toBe(1);
    expect(r.limiter.timeouts).toBe(r.outcomes.timeout);
    expect(r.outcomes.timeout).toBeGreaterThan(5);
  });

  it('never exceeds its ceiling, however fast the endpoint', async () => {
    const r = await simulate({ slots: 256, latencyMs: 20, ceiling: 10, durationMs: 3_000 });
    expect(r.maxInFlight).toBe(10);
    expect(Math.max(...r.after(0))).toBe(10);
  });

  it('a client with a lower ceiling lowers a shared limiter; release twice counts once', async () => {
    let now = 0;
    const l = new AdaptiveLimiter({ ceiling: 100, initial: 50, now: () => now });
    l.lowerCeiling(5);
    expect(l.limit).toBe(5);
    const permits = await Promise.all(Array.from({ length: 5 }, () => l.acquire()));
    let sixth = false;
    void l.acquire().then(() => (sixth = true));
    await new Promise((r) => setImmediate(r));
    expect(sixth).toBe(false);
    now = 10;
    permits[0]!.release('ok');
    permits[0]!.release('ok');
    await new Promise((r) => setImmediate(r));
    expect(sixth).toBe(true);
    expect(l.inFlight).toBe(5);
  });
});
