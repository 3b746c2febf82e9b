/**
 * Phase a: the pipeline reset (topics, groups, database: as the e2e tests' resetPipeline), then
 * every topic filled through the real serde and producer, upstream first. The stages' own consumer
 * groups are then set to the end of their inputs, as they would be after a pipeline that made all
 * of it (otherwise a stage started later would take the whole backlog as new work); the sink's
 * groups are left without offsets: its catch-up is the next phase.
 */
import { ensureTopics } from '../../services/runtime/kafka/index.ts';
import { consumerGroupsOf } from '../../services/stages.ts';
import type { Combination } from '../../schemas/generated/types.ts';
import { resetPipelineAndDatabase } from './reset.ts';
import { log, round, type ScaleContext } from './context.ts';
import { chunked, produceTopic, type ProduceFigures } from './produce.ts';

export const PIPELINE_STAGES_WITH_INPUT = ['concept-extractor', 'concept-graph', 'problem-synth', 'judge'] as const;

export async function fillTopics(ctx: ScaleContext) {
  const t0 = performance.now();
  log('resetting the pipeline (topics, consumer groups, database)');
  const reset = await resetPipelineAndDatabase(ctx.config, ctx.clickhouse);
  const created = await ensureTopics(ctx.admin);
  const { synth } = ctx;
  const topics: ProduceFigures[] = [];
  const progress = (topic: string, total: number) => (records: number, bytes: number, s: number) =>
    log(`  ${topic}: ${records.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} records, ${round(bytes / 2 ** 20, 0)} MiB, ${round(records / s, 0)} records/s`);
  const produce = async (topic: string, chunks: Iterable<unknown[]>, total: number) => {
    log(`producing ${total.toLocaleString('en-US')} records to ${topic} ...`);
    const figures = await produceTopic(ctx.transport, ctx.serde, topic, chunks, { signal: ctx.signal, progress: progress(topic, total) });
    if (figures.records !== total) throw new Error(`${topic}: produced ${figures.records} records, expected ${total}`);
    ctx.produced[topic] = figures.records;
    log(`  ${topic}: ${figures.records.toLocaleString('en-US')} records, ${round(figures.bytes / 2 ** 20, 1)} MiB in ${figures.seconds} s (${figures.records_per_s} records/s, ${figures.mb_per_s} MiB/s; generator ${figures.generate_seconds} s)`);
    topics.push(figures);
  };
  const n = ctx.sizes.combinations;
  await produce('grip.seeds', chunked(synth.seeds), synth.seeds.length);
  await produce('grip.kc-registry', chunked(synth.registryEntries, 500), synth.registryEntries.length);
  await produce('grip.concepts', chunked(synth.concepts), synth.concepts.length);
  await produce('grip.pairs', synth.combinations(2000), n);
  const toppedUp = synth.toppedUp;
  await produce('grip.candidates', mapChunks(synth.combinations(2000), (c, i) => synth.candidate(c, i)), n);
  let accepted = 0;
  await produce(
    'grip.verdicts',
    mapChunks(synth.combinations(2000), (c, i) => {
      const v = synth.verdict(synth.candidate(c, i), i);
      if (v.accepted) accepted++;
      return v;
    }),
    n,
  );

  // the stages made all of it: their groups stand at the end of their inputs
  const groups: Record<string, string> = {};
  for (const stage of PIPELINE_STAGES_WITH_INPUT) {
    for (const { groupId, topic } of consumerGroupsOf(stage)) {
      await ctx.admin.resetGroupOffsets(groupId, topic, { position: 'latest' });
      groups[groupId] = topic;
    }
  }
  return {
    reset,
    topics_created: created.length,
    seconds: round((performance.now() - t0) / 1000),
    combinations_sampled_by_concept_graph_sampler: n - toppedUp,
    combinations_random_top_up: toppedUp,
    verdicts_accepted: accepted,
    judge_config_version: ctx.judgeConfigVersion,
    stage_groups_at_end: groups,
    topics,
  };
}

/** Maps each value of each chunk with its running index. */
function* mapChunks<T>(chunks: Iterable<Combination[]>, make: (combo: Combination, index: number) => T): Generator<T[]> {
  let i = 0;
  for (const chunk of chunks) yield chunk.map((c) => make(c, i++));
}
