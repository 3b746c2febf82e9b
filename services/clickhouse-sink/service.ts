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
import { ClickHouseWriter } from './writer.ts';
import { insertRow as insert, storeDeadLetter } from './handlers.ts';
import { migrate } from './migrate.ts';
import { loadTopics } from '../../schemas/catalog.ts';
import { dlq } from '../runtime/handler.ts';
import { runStage, type InRecord, type StageHandle } from '../runtime/kafka/index.ts';
import { healthReport } from '../runtime/http.ts';
import { combine, sinkGroupOf, type RunningService, type ServiceContext } from '../runtime/stage.ts';
import { errorMessage } from '../runtime/kafka/errors.ts';
import { DEFAULT_BACKOFF } from '../runtime/retry.ts';

/** Insert failures are retried by the stage for this long (about), then the service crashes and is restarted. */
const SINK_MAX_RETRIES = 1000;

export const startClickHouseSink = async (ctx: ServiceContext): Promise<RunningService> => {
  const result = await migrate(ctx.config.clickhouse, { log: (m) => ctx.log('info', m) });
  ctx.log('info', 'ClickHouse migrations applied', { applied: result.applied?.length ?? 0 });
  const writer = new ClickHouseWriter({ clickhouse: ctx.config.clickhouse, maxBatchRows: 1000, maxBatchWaitMs: 500, log: ctx.log });
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
        // Never used: a dead letter is stored, retried, stored in minimal form, or logged as unstorable.
        dlqTopic: spec.dlq,
        groupId: sinkGroupOf(spec.dlq),
        decode: async (record) => record,
        handler: async (record) => {
          const row = deadLetterRow({ dlqTopic: spec.dlq, key: record.key, value: record.value, headers: record.headers, timestamp: Number(record.timestamp) });
          return storeDeadLetter(writer, row, record, ctx.log);
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
  const service = combine(stages, { stop: () => writer.close() });
  // Stopping (or a crashed stage) must not wait on a table stopped by a configuration error.
  service.done.catch(() => writer.interrupt());
  return { ...service, stop: () => (writer.interrupt(), service.stop()), health: () => healthReport(service.healthy(), writer.problem()) };
};
