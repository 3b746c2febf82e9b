/**
 * The pipeline reset of the e2e and fault tests (test/e2e/pipeline-helpers.ts resetPipeline: every
 * stage's consumer group, every catalog topic and DLQ, the ClickHouse database), with the bench's
 * ClickHouse client: dropping tables of millions of rows can take ClickHouse 18.16 longer than
 * the 30 s a default client waits. Returns how long each part took.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { loadTopics } from '../../schemas/catalog.ts';
import type { GripConfig } from '../../services/runtime/config.ts';
import { platformaticTransport } from '../../services/runtime/kafka/index.ts';
import { consumerGroupsOf, SERVICE_NAMES } from '../../services/stages.ts';
import { round } from './context.ts';

export async function resetPipelineAndDatabase(config: GripConfig, ch: ClickHouseClient): Promise<{ kafka_seconds: number; drop_database_seconds: number }> {
  const t0 = performance.now();
  const admin = platformaticTransport(config.kafka).admin();
  try {
    const groups = SERVICE_NAMES.flatMap((s) => consumerGroupsOf(s).map((g) => g.groupId));
    await admin.deleteGroups(groups).catch(() => undefined);
    const ours = new Set([...loadTopics().values()].flatMap((s) => [s.topic, s.dlq]));
    const existing = (await admin.listTopics()).filter((t) => ours.has(t));
    if (existing.length > 0) await admin.deleteTopics(existing);
    // deletion is asynchronous on the broker: wait until the names are free again
    for (let i = 0; i < 200; i++) {
      if (!(await admin.listTopics()).some((t) => ours.has(t))) break;
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    await admin.close();
  }
  const t1 = performance.now();
  await ch.command({ query: `DROP DATABASE IF EXISTS ${config.clickhouse.database}` });
  return { kafka_seconds: round((t1 - t0) / 1000), drop_database_seconds: round((performance.now() - t1) / 1000) };
}
