/**
 * How the clickhouse-sink consumes one pipeline topic: its runStage settings, its writer settings
 * and its handler (row mapping + batched insert). The service runs one per topic; the pipeline
 * benchmark runs the same against a private topic to compare it with a raw insert.
 */
import { dlq, type HandlerResult } from '../runtime/handler.ts';
import { insertRows } from './handlers.ts';
import { errorMessage } from '../runtime/kafka/errors.ts';
import { DEFAULT_BACKOFF } from '../runtime/retry.ts';
import { rowFor, TOPIC_TABLES, type SinkTopic } from './rows.ts';
import type { ClickHouseWriter } from './writer.ts';

export const SINK_WRITER_OPTIONS = { maxBatchRows: 1000, maxBatchWaitMs: 500 };

export const SINK_STAGE_OPTIONS = {
  // Rows wait for their insert: one in flight per table and the next filling (5 x maxBatchRows).
  concurrency: 5000,
  maxBatchRecords: 500,
  // fetches overlap inserts: while one insert per table is in flight, the next polls are decoded
  // and buffered (4 batches left the writer waiting on Kafka between inserts)
  maxInFlightBatches: 16,
  // ClickHouse unreachable: waited out for as long as it takes (health: waiting on clickhouse).
  patienceMs: Number.POSITIVE_INFINITY,
  backoff: { ...DEFAULT_BACKOFF, maxMs: 5000 },
};

/**
 * The sink of a pipeline topic for runStage, per polled batch (`batchHandler`): the rows of every
 * mappable message in one add, one promise for the batch. Per message: ok once ClickHouse took its
 * row, a dead letter when it maps to no row, or the stage's error for its row (refused: dead-lettered;
 * ClickHouse unreachable: retried).
 */
export function topicRowsBatchHandler(writer: ClickHouseWriter, topic: SinkTopic) {
  const table = TOPIC_TABLES[topic];
  return async (values: unknown[]): Promise<Array<HandlerResult<never[]> | Error>> => {
    const outcomes = new Array<HandlerResult<never[]> | Error>(values.length);
    const rows: object[] = [];
    const positions: number[] = [];
    for (let i = 0; i < values.length; i++) {
      try {
        rows.push(rowFor(topic, values[i] as never).row);
        positions.push(i);
      } catch (error) {
        outcomes[i] = dlq('unmappable_row', errorMessage(error));
      }
    }
    const stored = await insertRows(writer, table, rows);
    for (let j = 0; j < stored.length; j++) outcomes[positions[j]!] = stored[j]!;
    return outcomes;
  };
}

/**
 * A pipeline topic's sink handlers for runStage: per batch, and per message (a message whose row
 * failed is retried alone) as the same batch of one, its error thrown.
 */
export function topicStageHandlers(writer: ClickHouseWriter, topic: SinkTopic) {
  const batchHandler = topicRowsBatchHandler(writer, topic);
  const handler = async (value: unknown): Promise<HandlerResult<never[]>> => {
    const [outcome] = await batchHandler([value]);
    if (outcome instanceof Error) throw outcome;
    return outcome!;
  };
  return { handler, batchHandler };
}
