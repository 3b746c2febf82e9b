/**
 * What the sink's consumer stages do with one message: queue its row and wait until ClickHouse
 * took it. The outcome of the writer (writer.ts) becomes the stage's:
 * - stored: ok (the offset may be committed);
 * - the row alone refused (bad data, isolated by splitting its batch): the message goes to the DLQ;
 * - ClickHouse unreachable for a while: retriable (the stage retries, nothing is committed);
 * - a configuration error: the writer keeps the row pending until the insert works, so the stage
 *   simply does not advance (nothing committed, nothing dead-lettered).
 * A dead letter is never dropped silently: a refused one is stored in a minimal form, and one that
 * even that cannot store is logged with its position and counted.
 */
import { Counter } from 'prom-client';
import { drop, ok, type HandlerResult } from '../runtime/handler.ts';
import { NonRetriableError, RetriableError, type InRecord } from '../runtime/kafka/index.ts';
import type { Logger } from '../runtime/log.ts';
import { minimalDeadLetterRow, type DeadLetterRow } from './rows.ts';
import { SinkRowRejectedError, SinkWriteError, type ClickHouseWriter } from './writer.ts';

const deadLettersMinimal = new Counter({
  name: 'grip_sink_dead_letters_minimal_total',
  help: 'Dead letters ClickHouse refused as they were and that were stored in minimal form (escaped, truncated), by DLQ topic',
  labelNames: ['dlq_topic'] as const,
});
const deadLettersUnstorable = new Counter({
  name: 'grip_sink_dead_letters_unstorable_total',
  help: 'Dead letters ClickHouse refused even in minimal form: logged with their position, not stored, by DLQ topic',
  labelNames: ['dlq_topic'] as const,
});

/** Queues one row; ok once ClickHouse took it; a refused row throws NonRetriableError (-> DLQ). */
export async function insertRow(writer: ClickHouseWriter, table: string, row: object): Promise<HandlerResult<never[]>> {
  try {
    await writer.add(table, row);
    return ok([]);
  } catch (error) {
    throw error instanceof Error ? stageErrorOf(error) : error;
  }
}

/**
 * Queues many messages' rows in one call; per message: ok once ClickHouse took its row, or the
 * stage's error for it (as insertRow throws), which the stage handles like a thrown one.
 */
export async function insertRows(writer: ClickHouseWriter, table: string, rows: object[]): Promise<Array<HandlerResult<never[]> | Error>> {
  return (await writer.addEach(table, rows)).map((failure) => (failure === null ? ok([]) : stageErrorOf(failure)));
}

/** What a writer failure means to the stage: a refused row is dead-lettered, an unreachable ClickHouse retried, the rest crash. */
function stageErrorOf(error: Error): Error {
  if (error instanceof SinkRowRejectedError) return new NonRetriableError('clickhouse_rejected', error.message, { cause: error });
  if (error instanceof SinkWriteError) return new RetriableError(error.message, { cause: error });
  return error;
}

/**
 * Stores one dead letter. Dead-lettering a dead letter would loop, so a refused row is stored again
 * in minimal form; if ClickHouse refuses even that, the loss is loud: an error line with the DLQ
 * record's position (where it still is) and a metric, then the message is dropped.
 */
export async function storeDeadLetter(writer: ClickHouseWriter, row: DeadLetterRow, record: InRecord, log: Logger): Promise<HandlerResult<never[]>> {
  try {
    return await insertRow(writer, 'dead_letters', row);
  } catch (error) {
    if (!(error instanceof NonRetriableError)) throw error;
    const minimal = minimalDeadLetterRow(row, error.message);
    try {
      const stored = await insertRow(writer, 'dead_letters', minimal);
      deadLettersMinimal.inc({ dlq_topic: row.dlq_topic });
      log('warn', 'dead letter stored in minimal form (ClickHouse refused it as it was)', { dlq_topic: record.topic, partition: record.partition, offset: record.offset, dlq_id: minimal.dlq_id, error: error.message });
      return stored;
    } catch (again) {
      if (!(again instanceof NonRetriableError)) throw again;
      deadLettersUnstorable.inc({ dlq_topic: row.dlq_topic });
      log('error', 'dead letter NOT stored: ClickHouse refused it even in minimal form; it stays in its DLQ topic at this position', {
        dlq_topic: record.topic, partition: record.partition, offset: record.offset, stage: row.stage, reason: row.reason, error: again.message,
      });
      return drop('dead_letter_unstorable');
    }
  }
}
