import { describe, expect, it } from 'vitest';
import { checkBand, HOUR, MINUTE, runChecked, type SimWindow } from './limiter-sim.ts';

/**
 * The limiter follows an endpoint that changes, on a simulated clock (limiter-sim.ts; acceptance
 * lines in limiter-hours-256x20.test.ts), in every 10-minute window after the first except the
 * window a change falls in: back in band within 10 simulated minutes of it.
 */
describe('AdaptiveLimiter follows a changing endpoint', () => {
  // 3x slower at hour 2 (its service time triples), 3x faster at hour 4 (back to where it began)
  it.each([
    [4, 8000],
    [16, 20],
    [64, 2000],
    [256, 200],
  ])('%i slots x %i ms: 3x slower at hour 2, 3x faster at hour 4', (slots, serviceMs) => {
    const speed = [
      { atMs: 2 * HOUR, factor: 3 },
      { atMs: 4 * HOUR, factor: 1 },
    ];
    const exempt: Array<[number, number]> = [[0, 10 * MINUTE], [2 * HOUR, 2 * HOUR + 10 * MINUTE], [4 * HOUR, 4 * HOUR + 10 * MINUTE]];
    const { failures, result } = runChecked(`${slots} slots x ${serviceMs} ms, 3x slower at 2 h, 3x faster at 4 h`, { slots, service: serviceMs, durationMs: 6 * HOUR, speed }, { exempt });
    expect(failures).toEqual([]);
    // the reference followed: within 15% of the true service time in each phase's last window
    const at = (t: number) => result.windows.find((w) => w.toMs === t)!.referenceMs / serviceMs;
    expect(at(2 * HOUR)).toBeGreaterThan(0.85);
    expect(at(2 * HOUR)).toBeLessThan(1.15);
    expect(at(4 * HOUR)).toBeGreaterThan(3 * 0.85);
    expect(at(4 * HOUR)).toBeLessThan(3 * 1.15);
    expect(at(6 * HOUR)).toBeGreaterThan(0.85);
    expect(at(6 * HOUR)).toBeLessThan(1.15);
  }, 900_000);

  // Short and long prompts on one endpoint. No-queue latency per class: the request's own service
  // time (its class's time, +-10% jitter), i.e. what it takes on an idle endpoint; p99 is checked
  // per class against 2 x that. In a FIFO queue every request waits the same, about (queue /
  // slots) x the MEAN service time, so the short class bounds the mix: with a queue of ~1.2 x the
  // slots that wait must stay under one short service time at the p99. The two 4:1 mixes below are
  // within that; an 8:1 mix (1 s 80%, 8 s 20%) is not quite (short p99 2.07-2.12 x, the limit in
  // band), nor is any 10:1 mix at 50/50, for a limit that keeps any queue at all.
  it.each([
    ['500 ms (70%) and 2 s (30%)', [{ name: 'short', serviceMs: 500, weight: 0.7 }, { name: 'long', serviceMs: 2000, weight: 0.3 }]],
    ['1 s (80%) and 4 s (20%)', [{ name: 'short', serviceMs: 1000, weight: 0.8 }, { name: 'long', serviceMs: 4000, weight: 0.2 }]],
  ] as const)('64 slots, mixed costs: %s', (label, classes) => {
    const { failures } = runChecked(`64 slots, ${label}, 6 h`, { slots: 64, service: [...classes], durationMs: 6 * HOUR });
    expect(failures).toEqual([]);
  }, 900_000);

  // The endpoint hangs for 10 minutes (no progress; what was in flight waits, new requests queue):
  // client timeouts send the limit to its floor (1); within 2 minutes of the endpoint's return the
  // limiter is back in band, checked minute by minute for the 10 minutes after (utilization, limit,
  // no timeout) and by the usual 10-minute windows (all lines) before and after.
  it.each([
    [4, 8000],
    [16, 2000],
    [64, 20],
    [256, 200],
  ])('%i slots x %i ms: hangs for 10 minutes', (slots, serviceMs) => {
    const stall = { fromMs: 68 * MINUTE, toMs: 78 * MINUTE };
    const recovered = stall.toMs + 2 * MINUTE;
    const { failures, result } = runChecked(
      `${slots} slots x ${serviceMs} ms, hangs 1h08-1h18`,
      { slots, service: serviceMs, durationMs: 2 * HOUR, stall, fineWindowMs: MINUTE },
      { exempt: [[0, 10 * MINUTE], [stall.fromMs, recovered]] },
    );
    expect(failures).toEqual([]);
    expect(result.stallLimitMin).toBe(1);
    expect(result.outcomes.timeout).toBeGreaterThan(0);
    const minutes = checkMinutes(result.fine, slots, recovered);
    expect(minutes).toEqual([]);
  }, 900_000);

  // The same 10 minutes, with the endpoint 10x slower instead of hung: the limit follows it (the
  // 4 x 8 s endpoint's 80 s answers queue past the 120 s timeout and take the limit to its floor),
  // and is back in band within 2 minutes of its return, checked as above.
  it.each([
    [4, 8000],
    [16, 2000],
    [64, 200],
    [256, 200],
  ])('%i slots x %i ms: 10x slower for 10 minutes', (slots, serviceMs) => {
    const slow = { fromMs: 68 * MINUTE, toMs: 78 * MINUTE };
    const recovered = slow.toMs + 2 * MINUTE;
    const speed = [
      { atMs: slow.fromMs, factor: 10 },
      { atMs: slow.toMs, factor: 1 },
    ];
    const { failures, result } = runChecked(
      `${slots} slots x ${serviceMs} ms, 10x slower 1h08-1h18`,
      { slots, service: serviceMs, durationMs: 2 * HOUR, speed, fineWindowMs: MINUTE },
      { exempt: [[0, 10 * MINUTE], [slow.fromMs, recovered]] },
    );
    expect(failures).toEqual([]);
    expect(checkMinutes(result.fine, slots, recovered)).toEqual([]);
  }, 900_000);
});

function checkMinutes(fine: SimWindow[], slots: number, from: number): string[] {
  return checkBand(fine, { slots, within: [from, from + 10 * MINUTE], exempt: [], p99: false }).failures;
}
