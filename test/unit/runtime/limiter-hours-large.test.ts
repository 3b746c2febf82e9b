import { describe, expect, it } from 'vitest';
import { sixHours } from './limiter-sim.ts';

/** The grid's other busy shapes (see limiter-hours-256x20.test.ts for the acceptance lines). */
describe('AdaptiveLimiter over 6 simulated hours', () => {
  it.each([
    [64, 20],
    [256, 200],
    [256, 2000],
    [256, 8000],
  ])('%i slots x %i ms', (slots, serviceMs) => expect(sixHours(slots, serviceMs).failures).toEqual([]), 900_000);
});
