/** Creates every topic of schemas/topics.yaml and its DLQ with the declared partitions and settings. */
import { loadTopics, type TopicSpec } from '../../../schemas/catalog.ts';
import type { AdminPort, TopicToCreate } from './transport.ts';

/** Every topic and DLQ that the catalog declares, as creation requests (pure). */
export function topicsToCreate(specs: Iterable<TopicSpec> = loadTopics().values(), replicationFactor = -1): TopicToCreate[] {
  const out: TopicToCreate[] = [];
  for (const spec of specs) {
    out.push({ topic: spec.topic, partitions: spec.partitions, config: spec.config, replicationFactor });
    // A DLQ has as many partitions as its topic: dead letters keep their key's partition.
    out.push({ topic: spec.dlq, partitions: spec.partitions, config: spec.dlqConfig, replicationFactor });
  }
  return out;
}

/**
 * Idempotent: topics that exist already are left as they are (their settings are not altered).
 * Returns the names it created.
 */
export async function ensureTopics(admin: AdminPort, specs?: Iterable<TopicSpec>, replicationFactor = -1): Promise<string[]> {
  return admin.createTopics(topicsToCreate(specs, replicationFactor));
}
