/**
 * Each stage's consumer group, the topic it reads and the topic it writes, in one place: the
 * services join the groups, `grip replay` rewinds them.
 */
export const STAGE_GROUPS = {
  'concept-extractor': { groupId: 'grip.concept-extractor', topic: 'grip.seeds', output: 'grip.concepts' },
  'concept-graph': { groupId: 'grip.concept-graph', topic: 'grip.concepts', output: 'grip.pairs' },
  'problem-synth': { groupId: 'grip.problem-synth', topic: 'grip.pairs', output: 'grip.candidates' },
  judge: { groupId: 'grip.judge', topic: 'grip.candidates', output: 'grip.verdicts' },
} as const;

export type PipelineStage = keyof typeof STAGE_GROUPS;

/** The clickhouse-sink reads each topic (and each DLQ) in a group of its own. */
export const sinkGroupOf = (topic: string): string => `grip.clickhouse-sink.${topic}`;
