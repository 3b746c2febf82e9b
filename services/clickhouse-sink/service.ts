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
import { insert, SINK_STAGE_OPTIONS, SINK_WRITER_OPTIONS, topicRowHandler } from './topic-stage.ts';
import { ClickHouseWriter } from './writer.ts';
import { migrate } from './migrate.ts';
import { loadTopics } from '../../schemas/catalog.ts';
import { drop } from '../runtime/handler.ts';
import { NonRetriableError, runStage, type InRecord, type StageHandle } from '../runtime/kafka/index.ts';
import { sinkGroupOf } from '../runtime/groups.ts';
import { combine, type ServiceStarter } from '../runtime/service.ts';

export const startClickHouseSink: ServiceStarter = async (ctx) => {
  const result = await migrate(ctx.config.clickhouse, { log: (m) => ctx.log('info', m) });
  ctx.log('info', 'ClickHouse migrations applied', { applied: result.applied?.length ?? 0 });
  const writer = new ClickHouseWriter({ clickhouse: ctx.config.clickhouse, ...SINK_WRITER_OPTIONS });
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
        handler: topicRowHandler(writer, topic),
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
