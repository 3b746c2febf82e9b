/** Consumer group ids of the stages, in one place: the services join them, `grip replay` rewinds them. */
export const STAGE_GROUPS = {
  'concept-extractor': { groupId: 'grip.concept-extractor', topic: 'grip.seeds' },
  'concept-graph': { groupId: 'grip.concept-graph', topic: 'grip.concepts' },
  'problem-synth': { groupId: 'grip.problem-synth', topic: 'grip.pairs' },
  judge: { groupId: 'grip.judge', topic: 'grip.candidates' },
} as const;

/** The clickhouse-sink reads each topic (and each DLQ) in a group of its own. */
export const sinkGroupOf = (topic: string): string => `grip.clickhouse-sink.${topic}`;
