/**
 * How the clickhouse-sink consumes one pipeline topic: its runStage settings, its writer settings
 * and its handler (row mapping + batched insert). The service runs one per topic; the pipeline
 * benchmark runs the same against a private topic to compare it with a raw insert.
 */
import { dlq, type HandlerResult } from '../runtime/handler.ts';
import { insertRow, insertRows } from './handlers.ts';
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

/** The handler of a pipeline topic: its row, or a dead letter when the message maps to none. */
export function topicRowHandler(writer: ClickHouseWriter, topic: SinkTopic) {
  return async (value: unknown): Promise<HandlerResult<never[]>> => {
    let mapped;
    try {
      mapped = rowFor(topic, value as never);
    } catch (error) {
      return dlq('unmappable_row', errorMessage(error));
    }
    return insertRow(writer, mapped.table, mapped.row);
  };
}

/**
 * The same for a whole polled batch (runStage's batchHandler): the rows of every mappable message
 * in one add, one promise for the batch; per message the outcome topicRowHandler would give.
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

/** A pipeline topic's sink handlers for runStage: per message (the retry path) and per batch. */
export function topicStageHandlers(writer: ClickHouseWriter, topic: SinkTopic) {
  return { handler: topicRowHandler(writer, topic), batchHandler: topicRowsBatchHandler(writer, topic) };
}
