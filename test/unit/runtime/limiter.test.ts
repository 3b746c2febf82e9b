import { register } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AdaptiveLimiter, type Permit } from '../../../services/runtime/limiter.ts';
import { processLimiters } from '../../../services/runtime/limiters.ts';
import { SECOND, simulate, type SimResult } from './limiter-sim.ts';

/**
 * The limiter's rules on short simulated runs (the shared simulator, limiter-sim.ts: an endpoint
 * of `slots` with a FIFO queue, WAITING_TARGET requests always waiting). The hours-long runs that
 * check it holds are in limiter-hours-*.test.ts.
 */
const limitsAfter = (r: SimResult, fromMs: number) => r.fine.filter((w) => w.fromMs >= fromMs).flatMap((w) => [w.limitMin, w.limitMax]);

describe('AdaptiveLimiter on a simulated clock', () => {
  it('grows from its small start to the endpoint slot count, keeps the slots busy and latency near the reference', () => {
    const r = simulate({ slots: 64, service: 100, durationMs: 20 * SECOND, fineWindowMs: SECOND });
    const late = limitsAfter(r, 10 * SECOND);
    expect(Math.min(...late)).toBeGreaterThanOrEqual(64);
    expect(Math.max(...late)).toBeLessThanOrEqual(Math.ceil(64 * 1.35));
    // capacity 640/s over 20 s = 12 800; the ramp from 4 costs well under a second
    expect(r.outcomes.ok).toBeGreaterThan(0.95 * 12_800);
    expect(Math.max(...r.fine.slice(10).map((w) => w.classes.all!.p99))).toBeLessThanOrEqual(2);
    const s = r.limiter.snapshot();
    expect(s.referenceMs).toBeGreaterThan(90);
    expect(s.referenceMs).toBeLessThan(110);
    expect(s.floorMs).toBe(s.referenceMs);
    expect(s.referenceAgeMs).toBeGreaterThanOrEqual(0);
    expect(s.referenceAgeMs).toBeLessThan(20 * SECOND);
  });

  it('settles near a small endpoint too (4 slots)', () => {
    const r = simulate({ slots: 4, service: 20, durationMs: 4 * SECOND, fineWindowMs: SECOND });
    const late = limitsAfter(r, 2 * SECOND);
    expect(Math.min(...late)).toBeGreaterThanOrEqual(4);
    expect(Math.max(...late)).toBeLessThanOrEqual(6);
  });

  it('backs off when latency inflates: the endpoint drops from 64 to 16 slots', () => {
    const r = simulate({ slots: 64, service: 100, durationMs: 20 * SECOND, slotsAt: [{ atMs: 8 * SECOND, slots: 16 }], fineWindowMs: SECOND });
    const late = limitsAfter(r, 14 * SECOND);
    expect(Math.min(...late)).toBeGreaterThanOrEqual(16);
    expect(Math.max(...late)).toBeLessThanOrEqual(Math.ceil(16 * 1.35));
  });

  it('backs off on 429 past a queue bound and serves without losing the slots', () => {
    const r = simulate({ slots: 16, service: 50, durationMs: 10 * SECOND, queueBound: 2, fineWindowMs: SECOND });
    expect(r.outcomes.throttled).toBeGreaterThan(0);
    expect(r.limiter.throttles).toBe(r.outcomes.throttled);
    expect(Math.max(...limitsAfter(r, 5 * SECOND))).toBeLessThanOrEqual(16 + 2 + 4);
    // capacity 320/s: throttling must not starve the endpoint
    expect(r.outcomes.ok).toBeGreaterThan(0.85 * 3200);
  });

  it('falls to its floor of 1 when the endpoint hangs, counting the timeouts', () => {
    const r = simulate({ slots: 16, service: 50, durationMs: 120 * SECOND, stall: { fromMs: 0, toMs: 121 * SECOND }, timeoutMs: 5 * SECOND });
    expect(r.limiter.limit).toBe(1);
    expect(r.limiter.timeouts).toBe(r.outcomes.timeout);
    expect(r.outcomes.timeout).toBeGreaterThan(5);
  });

  it('a timeout sends the limit to its floor at once (TCP: a retransmission timeout), later ones of the same burst do not count again', () => {
    let now = 0;
    const l = new AdaptiveLimiter({ ceiling: 100, initial: 40, min: 2, now: () => now });
    const permits = Array.from({ length: 10 }, () => {
      let p: Permit | undefined;
      l.acquireWith((x) => (p = x));
      return p!;
    });
    now = 120_000;
    for (const p of permits) p.release('timeout');
    expect(l.limit).toBe(2);
    expect(l.timeouts).toBe(10);
  });

  it('never exceeds its ceiling, however fast the endpoint', () => {
    const r = simulate({ slots: 256, service: 20, durationMs: 3 * SECOND, ceiling: 10, fineWindowMs: SECOND });
    expect(r.maxInFlight).toBe(10);
    expect(Math.max(...limitsAfter(r, 0))).toBe(10);
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

  it('exports the reference latency and its age per endpoint', async () => {
    // the first window (16 requests, 4 at a time) of a real-clock limiter makes its first reference
    const l = processLimiters.get('m@reference-test', 8);
    for (let i = 0; i < 4; i++) {
      const permits = await Promise.all(Array.from({ length: 4 }, () => l.acquire()));
      await new Promise((r) => setTimeout(r, 2));
      for (const p of permits) p.release('ok');
    }
    expect(l.referenceMs).toBeGreaterThan(0);
    const latency = await register.getSingleMetricAsString('grip_llm_reference_latency_seconds');
    expect(latency).toMatch(/grip_llm_reference_latency_seconds\{endpoint="m@reference-test"\} 0\.\d+/);
    expect(await register.getSingleMetricAsString('grip_llm_reference_age_seconds')).toContain('endpoint="m@reference-test"');
  });
});
