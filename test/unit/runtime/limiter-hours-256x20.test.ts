import { describe, expect, it } from 'vitest';
import { sixHours } from './limiter-sim.ts';

/**
 * The limiter holds for hours (limiter-sim.ts drives the real AdaptiveLimiter on a simulated
 * clock). The busiest shape of the grid has a file of its own so that vitest can run it beside the
 * others: 12,800 requests/s for 6 simulated hours is 276 million requests. The acceptance lines
 * (checkBand), in every 10-minute window after the first: slot utilization >= 0.95, limit within
 * 0.9-1.5 x the slots, p99 latency <= 2 x the request's own service time, no client timeout.
 */
describe('AdaptiveLimiter over 6 simulated hours', () => {
  it('256 slots x 20 ms', () => expect(sixHours(256, 20).failures).toEqual([]), 900_000);
});
