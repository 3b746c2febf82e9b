/**
 * clickhouse-sink service: every pipeline topic and every DLQ -> its ClickHouse table, in batches
 * (size or time, ClickHouseWriter). One consumer stage per topic, each in its own group, so a slow
 * table never holds up another. A message's offset is committed only after ClickHouse accepted the
 * batch that holds its row; ClickHouse down means retries with backoff, for as long as it takes
 * (the stage stops consuming meanwhile), never a lost or skipped row. Rows are keyed by the
 * messages' deterministic ids in ReplacingMergeTree tables: a redelivered message lands once.
 * Migrations are applied at start.
 */
import { rowFor, deadLetterRow, TOPIC_TABLES, type SinkTopic } from './rows.ts';
import { ClickHouseWriter, SinkWriteError } from './writer.ts';
import { migrate } from './migrate.ts';
import { loadTopics } from '../../schemas/catalog.ts';
import { dlq, drop, ok, type HandlerResult } from '../runtime/handler.ts';
import { NonRetriableError, RetriableError, runStage, type InRecord, type StageHandle } from '../runtime/kafka/index.ts';
import { combine, sinkGroupOf, type RunningService, type ServiceContext } from '../runtime/stage.ts';
import { errorMessage } from '../runtime/kafka/errors.ts';
import { DEFAULT_BACKOFF } from '../runtime/retry.ts';

/** Insert failures are retried by the stage for this long (about), then the service crashes and is restarted. */
const SINK_MAX_RETRIES = 1000;

async function insert(writer: ClickHouseWriter, table: string, row: Record<string, unknown>): Promise<HandlerResult<never[]>> {
  try {
    await writer.add(table, row);
    return ok([]);
  } catch (error) {
    if (error instanceof SinkWriteError && error.retriable) throw new RetriableError(error.message, { cause: error });
    if (error instanceof SinkWriteError) throw new NonRetriableError('clickhouse_rejected', error.message, { cause: error });
    throw error;
  }
}

export const startClickHouseSink = async (ctx: ServiceContext): Promise<RunningService> => {
  const result = await migrate(ctx.config.clickhouse, { log: (m) => ctx.log('info', m) });
  ctx.log('info', 'ClickHouse migrations applied', { applied: result.applied?.length ?? 0 });
  const writer = new ClickHouseWriter({ clickhouse: ctx.config.clickhouse, maxBatchRows: 1000, maxBatchWaitMs: 500 });
  const common = {
    transport: ctx.transport,
    serde: ctx.serde,
    // A whole polled batch waits on one insert: let all of it be in flight.
    concurrency: 2000,
    maxBatchRecords: 500,
    maxRetries: SINK_MAX_RETRIES,
    backoff: { ...DEFAULT_BACKOFF, maxMs: 5000 },
    log: ctx.log,
    handleSignals: false, // the service runtime owns SIGTERM
  };
  const starting: Array<Promise<StageHandle>> = [];
  for (const topic of Object.keys(TOPIC_TABLES) as SinkTopic[]) {
    starting.push(
      runStage<unknown, never>({
        ...common,
        name: `clickhouse-sink:${topic}`,
        inputTopic: topic,
        groupId: sinkGroupOf(topic),
        handler: async (value) => {
          let mapped;
          try {
            mapped = rowFor(topic, value as never);
          } catch (error) {
            return dlq('unmappable_row', errorMessage(error));
          }
          return insert(writer, mapped.table, mapped.row as unknown as Record<string, unknown>);
        },
      }),
    );
  }
  for (const spec of loadTopics().values()) {
    // Dead letters are stored as they are: their bytes may be anything, so no schema decode.
    starting.push(
      runStage<InRecord, never>({
        ...common,
        name: `clickhouse-sink:${spec.dlq}`,
        inputTopic: spec.dlq,
        // Never used: storing a dead letter either works, is retried, or is counted as dropped.
        dlqTopic: spec.dlq,
        groupId: sinkGroupOf(spec.dlq),
        decode: async (record) => record,
        handler: async (record) => {
          const row = deadLetterRow({ dlqTopic: spec.dlq, key: record.key, value: record.value, headers: record.headers, timestamp: Number(record.timestamp) });
          try {
            return await insert(writer, 'dead_letters', row as unknown as Record<string, unknown>);
          } catch (error) {
            // Dead-lettering a dead letter would loop: a row ClickHouse refuses is counted and logged.
            if (error instanceof NonRetriableError) return drop(error.reason);
            throw error;
          }
        },
      }),
    );
  }
  const started = await Promise.allSettled(starting);
  const stages = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.allSettled(stages.map((s) => s.stop()));
    await writer.close();
    throw failed.reason;
  }
  return combine(stages, { stop: () => writer.close() });
};
