import { describe, expect, it } from 'vitest';
import { sixHours } from './limiter-sim.ts';

/**
 * The rest of the grid, 4 to 64 slots (see limiter-hours-256x20.test.ts for the acceptance lines).
 * 8 s is a CPU model; 4 slots x 8 s answers 0.5 requests/s.
 */
describe('AdaptiveLimiter over 6 simulated hours', () => {
  it.each([
    [4, 20],
    [4, 200],
    [4, 2000],
    [4, 8000],
    [16, 20],
    [16, 200],
    [16, 2000],
    [16, 8000],
    [64, 200],
    [64, 2000],
    [64, 8000],
  ])('%i slots x %i ms', (slots, serviceMs) => expect(sixHours(slots, serviceMs).failures).toEqual([]), 900_000);
});
