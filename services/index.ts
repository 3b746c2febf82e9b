/**
 * Every service of the pipeline, by name: what `grip services run <name>` starts, and which
 * consumer groups read which topic (what `grip replay` moves).
 */
import type { ServiceName } from './runtime/config.ts';
import type { ServiceStarter } from './runtime/service.ts';
import { loadTopics } from '../schemas/catalog.ts';
import { TOPIC_TABLES } from './clickhouse-sink/rows.ts';
import { sinkGroupOf, STAGE_GROUPS } from './runtime/groups.ts';

export const PIPELINE_SERVICES = ['seed-ingest', 'concept-extractor', 'concept-graph', 'problem-synth', 'judge', 'clickhouse-sink'] as const satisfies readonly ServiceName[];
export type PipelineService = (typeof PIPELINE_SERVICES)[number];

export async function starterOf(name: PipelineService): Promise<ServiceStarter> {
  switch (name) {
    case 'seed-ingest':
      return (await import('./seed-ingest/service.ts')).startSeedIngest;
    case 'concept-extractor':
      return (await import('./concept-extractor/service.ts')).startConceptExtractor;
    case 'concept-graph':
      return (await import('./concept-graph/service.ts')).startConceptGraph;
    case 'problem-synth':
      return (await import('./problem-synth/service.ts')).startProblemSynth;
    case 'judge':
      return (await import('./judge/service.ts')).startJudge;
    case 'clickhouse-sink':
      return (await import('./clickhouse-sink/service.ts')).startClickHouseSink;
  }
}

/** The consumer groups of a stage and the topic each reads (what a replay rewinds). */
export function consumerGroupsOf(stage: PipelineService): Array<{ groupId: string; topic: string }> {
  if (stage === 'seed-ingest') return [];
  if (stage === 'clickhouse-sink') {
    const topics = [...Object.keys(TOPIC_TABLES), ...[...loadTopics().values()].map((spec) => spec.dlq)];
    return topics.map((topic) => ({ groupId: sinkGroupOf(topic), topic }));
  }
  return [STAGE_GROUPS[stage]];
}
