/**
 * concept-graph: grip.concepts -> grip.pairs (the paper's steps 3-4). Keeps the KC graph and the
 * sampler (graph.ts).
 *
 * State is rebuilt from the logs at start: every combination already in grip.pairs is marked as
 * emitted, then every seed's concepts in grip.concepts are added to the graph. A combination's key
 * is emitted once: a pair produced before a crash is in grip.pairs, so the rebuilt sampler skips it;
 * a replay of grip.concepts only re-adds seeds the graph has.
 *
 * When it samples: each concepts message earns `services.combinations_per_seed` combinations (until
 * `services.max_combinations` were emitted in all), sampled once the stage has handled all of its
 * input (the fullest graph: `grip run` samples once, after every seed), or, under a steady inflow,
 * after `services.sample_every_seeds` messages or `services.sample_every_seconds`.
 *
 * Exactly one instance: the graph is global; a second member of the group would sample from a
 * graph that misses the other half's seeds. Throughput is not the limit: no model calls here.
 */
import { Counter, Gauge } from 'prom-client';
import type { Combination, SeedConcepts } from '../../schemas/generated/types.ts';
import { ok } from '../runtime/handler.ts';
import { declareStage, readState } from '../runtime/stage.ts';
import { graphStageFrom } from './graph.ts';

const graphSeeds = new Gauge({ name: 'grip_graph_seeds', help: 'Seeds in the KC graph' });
const graphKcs = new Gauge({ name: 'grip_graph_kcs', help: 'KCs (nodes) in the KC graph' });
const combosEmitted = new Counter({ name: 'grip_graph_combinations_total', help: 'Combinations emitted to grip.pairs, by relation', labelNames: ['relation'] as const });
const conflicts = new Counter({ name: 'grip_graph_seed_conflicts_total', help: 'Concepts of a seed already in the graph with other KCs (kept the first)' });

/** Seeds in a canonical order (by id; the first message of a seed first), for the graph. */
function bySeedId(concepts: SeedConcepts[]): SeedConcepts[] {
  return concepts.map((c, i) => ({ c, i })).sort((a, b) => (a.c.seed_id < b.c.seed_id ? -1 : a.c.seed_id > b.c.seed_id ? 1 : a.i - b.i)).map(({ c }) => c);
}

export const conceptGraph = declareStage<SeedConcepts, SeedConcepts, Combination>({
  name: 'concept-graph',
  description: 'seed concepts -> the KC graph -> combinations never seen together',
  input: 'grip.concepts',
  output: 'grip.pairs',
  stateLogs: ['grip.pairs', 'grip.concepts'],
  llmSteps: [],
  port: 9403,
  scaling: 'one',
  // The graph and the sampler are one state: messages are applied one at a time, in order.
  consumer: () => ({ concurrency: 1, maxInFlightBatches: 1, maxBatchRecords: 500 }),
  async setup(ctx) {
    const { settings } = ctx;
    const graphStage = graphStageFrom(settings);
    let emitted = 0;
    await (await readState<Combination>(ctx, 'grip.pairs', 'concept-graph-pairs', (combo) => void (graphStage.markEmitted(combo, ctx.log) && emitted++))).done;
    const rebuilt: SeedConcepts[] = [];
    await (await readState<SeedConcepts>(ctx, 'grip.concepts', 'concept-graph-concepts', (c) => void rebuilt.push(c))).done;
    for (const c of bySeedId(rebuilt)) graphStage.rebuild(c, ctx.log);
    const refreshGauges = () => {
      graphSeeds.set(graphStage.graph.seedCount);
      graphKcs.set(graphStage.graph.graph.order);
    };
    refreshGauges();
    ctx.log('info', 'graph rebuilt from grip.pairs and grip.concepts', { combinations_emitted: emitted, seeds: graphStage.graph.seedCount });

    const { combinations_per_seed: perSeed, max_combinations: maxTotal, sample_every_seeds: everySeeds, sample_every_seconds: everySeconds } = settings.services;
    let owed = 0; // messages whose combinations are not sampled yet
    const countedTo = new Map<number, bigint>(); // per partition: a retried message is owed once
    // Concepts wait here until the next sample and then enter the graph sorted by seed id: the same
    // seeds give the same graph, hence the same combinations, in whatever order they arrived
    // (partitions interleave differently from run to run; `grip run` has one partition).
    let pending: SeedConcepts[] = [];
    let lastSample = Date.now();
    return {
      // A malformed message goes to the DLQ here, before it could reach the graph.
      handle: async (concepts) => graphStage.check(concepts),
      ordered: async (concepts, _value, c) => {
        const { partition, offset } = c.record;
        if (concepts.kcs.length > 0 && offset >= (countedTo.get(partition) ?? 0n)) owed++;
        countedTo.set(partition, offset + 1n);
        pending.push(concepts);
        if (owed === 0 || !c.lastInBatch) return ok([]);
        const due = (everySeeds > 0 && owed >= everySeeds) || (everySeconds > 0 && Date.now() - lastSample >= everySeconds * 1000);
        if (!due && !(await c.inputDrained())) return ok([]);
        for (const p of bySeedId(pending)) if (graphStage.ingest(p) === 'conflict') conflicts.inc();
        pending = [];
        refreshGauges();
        const budget = maxTotal > 0 ? Math.max(0, Math.min(perSeed * owed, maxTotal - emitted)) : perSeed * owed;
        owed = 0;
        lastSample = Date.now();
        const combos = budget > 0 ? graphStage.sample(budget, ctx.now()) : [];
        emitted += combos.length;
        for (const combo of combos) combosEmitted.inc({ relation: combo.relation });
        return ok(combos);
      },
    };
  },
});
