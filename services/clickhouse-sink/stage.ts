/** clickhouse-sink, declared: every topic the catalog stores in a table, and every DLQ, to ClickHouse. */
import { declareService } from '../runtime/stage.ts';

export const clickhouseSink = declareService({
  name: 'clickhouse-sink',
  description: 'every stored topic and every DLQ -> its ClickHouse table, committed after ClickHouse accepted the rows',
  port: 9406,
  scaling: 'any',
  llmSteps: [],
  produces: [],
  consumes: 'every-topic',
  needsKafka: true,
  start: async (ctx) => (await import('./service.ts')).startClickHouseSink(ctx),
});
