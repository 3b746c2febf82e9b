/**
 * The cells of `npm run bench:pipeline`: endpoints of 4 / 16 / 64 / 256 slots x 20 ms / 200 ms / 2 s
 * latency, and three overload modes of a 16-slot, 100 ms endpoint (a queue without 429, 429 with
 * Retry-After past a queue bound, random 5xx), and the orchestration ceiling (an endpoint that
 * answers at once: model calls per second through Kafka against the LLM client alone). Run lengths grow with the latency so that the ramp of
 * the limiters and the drain at the end stay a small part of each run.
 */
import type { EndpointShape } from './endpoint.ts';

export interface BenchCell {
  name: string;
  shape: EndpointShape;
  /** Target length of the pipeline phase, seconds (before --scale). */
  seconds: number;
  /** What the cell checks besides efficiency. */
  kind: 'matrix' | 'overload-queue' | 'overload-429' | 'overload-5xx' | 'ceiling' | 'sink';
}

const SECONDS_BY_LATENCY: Record<number, number> = { 20: 10, 200: 15, 2000: 36 };

export function benchCells(): BenchCell[] {
  const cells: BenchCell[] = [];
  for (const latencyMs of [20, 200, 2000]) {
    for (const slots of [4, 16, 64, 256]) cells.push({ name: `${slots}x${latencyMs}ms`, shape: { latencyMs, slots }, seconds: SECONDS_BY_LATENCY[latencyMs]!, kind: 'matrix' });
  }
  const base = { latencyMs: 100, slots: 16 };
  cells.push({ name: 'overload-queue', shape: base, seconds: 15, kind: 'overload-queue' });
  cells.push({ name: 'overload-429', shape: { ...base, queueBound: 4, retryAfterS: 1 }, seconds: 15, kind: 'overload-429' });
  cells.push({ name: 'overload-5xx', shape: { ...base, errorRate: 0.05 }, seconds: 15, kind: 'overload-5xx' });
  // an endpoint too fast to be the limit (no latency, no slot cap): what this machine can route
  cells.push({ name: 'ceiling', shape: { latencyMs: 0, slots: 1_000_000 }, seconds: 10, kind: 'ceiling' });
  // the clickhouse-sink beside a raw insert of the same rows (no model endpoint)
  cells.push({ name: 'sink', shape: { latencyMs: 0, slots: 1 }, seconds: 0, kind: 'sink' });
  return cells;
}

/** Requests per second the endpoint serves when its slots never idle. */
export const theoreticalRps = (s: EndpointShape) => (s.slots * 1000) / s.latencyMs;
