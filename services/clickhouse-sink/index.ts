/**
 * clickhouse-sink: lands the pipeline's topics in ClickHouse tables keyed by deterministic ids.
 * - migrate.ts: `grip db migrate` (runMigrateCommand) and migrate(); files in deploy/clickhouse/.
 * - rows.ts: pure message -> row mappers, one per topic.
 * - writer.ts: batching writer whose promises resolve only after ClickHouse accepted the rows.
 * The Kafka runner (consumer wrapper from the shared runtime) calls sinkMessages() per batch and
 * commits offsets after the returned promise resolves.
 */
import type { TopicValues } from '../../schemas/generated/types.ts';
import { rowFor, type SinkTopic } from './rows.ts';
import type { ClickHouseWriter } from './writer.ts';

export { migrate, runMigrateCommand, MIGRATE_USAGE, MigrationError, type MigrateOptions, type MigrateResult } from './migrate.ts';
export { MIGRATIONS_DIR, splitStatements } from './migration-files.ts';
export * from './rows.ts';
export { ClickHouseWriter, SinkRowRejectedError, SinkWriteError, insertErrorClass, isRetriableInsertError, type Row, type WriterOptions } from './writer.ts';

/**
 * Maps messages of one topic to rows and queues them; resolves when ClickHouse accepted all of
 * them. A message that cannot be mapped throws RowMappingError before anything is queued, so the
 * runner can dead-letter it.
 */
export function sinkMessages<T extends SinkTopic>(writer: ClickHouseWriter, topic: T, values: Array<TopicValues[T]>): Promise<void> {
  if (values.length === 0) return Promise.resolve();
  const mapped = values.map((value) => rowFor(topic, value));
  return writer.add(mapped[0]!.table, mapped.map((m) => m.row));
}
