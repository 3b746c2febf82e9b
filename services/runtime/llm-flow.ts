/**
 * How a stage whose messages wait on model calls admits records: by what its endpoints take, not
 * by a fixed count. Each endpoint's limiter (limiter.ts) finds how many requests its endpoint
 * serves at once; the stage starts another message whenever few requests wait for a limiter, so
 * the limiters always have a little demand to grow into and the stage never holds thousands of
 * messages that only queue. The settings users had to tune per stage (concurrency x2, batch size,
 * batches in flight) follow from it.
 */
import type { ConsumerShape } from './stage.ts';
import { ceilingOf, type ConcurrencySetting } from './limiters.ts';

/** Requests allowed to wait for their limiter before a stage stops admitting records. */
export const WAITING_TARGET = 16;

export function llmStageFlow(
  concurrency: ConcurrencySetting,
  llm: { waiting(): number },
): ConsumerShape {
  return {
    // a bound on memory, not the pace: `ready` sets the pace
    concurrency: 2 * ceilingOf(concurrency) + WAITING_TARGET,
    maxBatchRecords: 100,
    // batches only carry the commit bookkeeping now: a slow message holds its batch's commit, not
    // the admission of other records, so many may be open at once
    maxInFlightBatches: 64,
    ready: () => llm.waiting() < WAITING_TARGET,
  };
}
