/**
 * clickhouse-sink service: every pipeline topic and every DLQ -> its ClickHouse table, in batches
 * (size or time, ClickHouseWriter). One consumer stage per topic, each in its own group, so a slow
 * table never holds up another. A message's offset is committed only after ClickHouse accepted the
 * batch that holds its row; ClickHouse down means retries with backoff, for as long as it takes
 * (the stage stops consuming meanwhile), never a lost or skipped row. Rows are keyed by the
 * messages' deterministic ids in ReplacingMergeTree tables: a redelivered message lands once.
 * Migrations are applied at start.
 */
import { deadLetterRow, TOPIC_TABLES, type SinkTopic } from './rows.ts';
import { storeDeadLetter } from './handlers.ts';
import { SINK_STAGE_OPTIONS, SINK_WRITER_OPTIONS, topicStageHandlers } from './topic-stage.ts';
import { ClickHouseWriter } from './writer.ts';
import { migrate } from './migrate.ts';
import { loadTopics } from '../../schemas/catalog.ts';
import { runStage, type InRecord, type StageHandle } from '../runtime/kafka/index.ts';
import { healthReport } from '../runtime/http.ts';
import { combine, sinkGroupOf, type RunningService, type ServiceContext } from '../runtime/stage.ts';

export const startClickHouseSink = async (ctx: ServiceContext): Promise<RunningService> => {
  const result = await migrate(ctx.config.clickhouse, { log: (m) => ctx.log('info', m) });
  ctx.log('info', 'ClickHouse migrations applied', { applied: result.applied?.length ?? 0 });
  const writer = new ClickHouseWriter({ clickhouse: ctx.config.clickhouse, ...SINK_WRITER_OPTIONS, log: ctx.log });
  const common = {
    transport: ctx.transport,
    serde: ctx.serde,
    ...SINK_STAGE_OPTIONS,
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
        ...topicStageHandlers(writer, topic),
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
