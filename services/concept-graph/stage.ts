/**
 * concept-graph: grip.concepts -> grip.pairs (the paper's steps 3-4). Keeps the KC graph and the
 * sampler (graph.ts).
 *
 * State is rebuilt from the logs at start: every combination already in grip.pairs is marked as
 * emitted, then every seed's concepts in grip.concepts are added to the graph. A combination's key
 * is emitted once: a pair produced before a crash is in grip.pairs, so the rebuilt sampler skips it;
 * a replay of grip.concepts only re-adds seeds the graph has.
 *
 * The budget: every seed with at least one KC earns `services.combinations_per_seed` combinations,
 * at most `services.max_combinations` in all (0: no cap): `combinationBudget` (graph.ts) of the
 * seeds in the graph and those waiting to enter it. What the stage owes is that budget minus the
 * combinations emitted (those in grip.pairs at start, plus those emitted since). It is a function of
 * the logs, not of this process's memory, so runStage may commit concepts whose combinations are not
 * sampled yet: a graceful stop, a supervisor restart, a lost and retaken lease (a broker restart) or
 * a takeover by a standby rebuilds the same graph and the same count, and owes the same. A seed
 * earns once: a redelivered message, or another message of a seed already in the graph, earns
 * nothing; a message without KCs earns nothing.
 *
 * A shortfall carries forward: a sample that finds fewer new combinations than it owes (a small or
 * sparse graph) leaves the rest owed, for the next sample after new seeds arrive, or after a
 * restart. So the total is the budget whenever the final graph can supply it, with or without
 * restarts; when it cannot, the stage has emitted at least every combination the sampler finds in
 * the final graph (each one, the final sample sweeps what is left), never more than the budget.
 *
 * When it samples: at the end of a batch, once the stage has handled all of its input (the fullest
 * graph: `grip run` samples once, after every seed), or, under a steady inflow, after
 * `services.sample_every_seeds` new seeds or `services.sample_every_seconds` since its last sample
 * (a budget owed at start counts as that many seeds, and the clock starts at start). Concepts wait
 * until then and enter the graph sorted by seed id: for a run without restarts, the same seeds give
 * the same graph, hence the same combinations, in whatever order they arrived (partitions
 * interleave differently from run to run; `grip run` has one partition, and its graph is whole at
 * start, rebuilt from grip.concepts, so it samples from every seed once). After a restart the
 * rebuilt graph takes in, sorted, every seed in grip.concepts at once, so the combinations may
 * differ from those of a run without restarts; their number does not.
 *
 * Exactly one instance: the graph is global; a second member of the group would sample from a
 * graph that misses the other half's seeds. Throughput is not the limit: no model calls here.
 */
import { Counter, Gauge } from 'prom-client';
import type { Combination, SeedConcepts } from '../../schemas/generated/types.ts';
import { ok } from '../runtime/handler.ts';
import { declareStage, readState } from '../runtime/stage.ts';
import { bySeedId, combinationBudget, graphStageFrom } from './graph.ts';

const graphSeeds = new Gauge({ name: 'grip_graph_seeds', help: 'Seeds in the KC graph' });
const graphKcs = new Gauge({ name: 'grip_graph_kcs', help: 'KCs (nodes) in the KC graph' });
const combosEmitted = new Counter({ name: 'grip_graph_combinations_total', help: 'Combinations emitted to grip.pairs, by relation', labelNames: ['relation'] as const });
const conflicts = new Counter({ name: 'grip_graph_seed_conflicts_total', help: 'Concepts of a seed already in the graph with other KCs (kept the first)' });

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

    const { combinations_per_seed: perSeed, sample_every_seeds: everySeeds, sample_every_seconds: everySeconds } = settings.services;
    // Concepts wait here until the next sample and then enter the graph sorted by seed id: the same
    // seeds give the same graph, hence the same combinations, in whatever order they arrived
    // (partitions interleave differently from run to run; `grip run` has one partition).
    let pending: SeedConcepts[] = [];
    /** Seeds with KCs among `pending` that the graph does not have yet: they have earned their budget already. */
    const pendingSeeds = new Set<string>();
    /** What the stage owes now: the budget of every seed it knows, less what was emitted. */
    const owed = () => Math.max(0, combinationBudget(settings.services, graphStage.graph.seedCount + pendingSeeds.size) - emitted);
    const owedAtStart = owed();
    // A budget owed at start (seeds committed before their sample, a shortfall, raised settings)
    // counts toward sample_every_seeds as the seeds it stands for.
    let seedsSinceSample = perSeed > 0 ? Math.ceil(owedAtStart / perSeed) : 0;
    let sampledSinceStart = false;
    let lastSample = Date.now();
    if (owedAtStart > 0) ctx.log('info', 'combinations owed at start', { owed: owedAtStart, seeds: graphStage.graph.seedCount, combinations_emitted: emitted });
    const flush = () => {
      for (const p of bySeedId(pending)) if (graphStage.ingest(p) === 'conflict') conflicts.inc();
      pending = [];
      pendingSeeds.clear();
      refreshGauges();
    };
    return {
      // A malformed message goes to the DLQ here, before it could reach the graph.
      handle: async (concepts) => graphStage.check(concepts),
      ordered: async (concepts, _value, c) => {
        const seed = concepts.seed_id;
        if (concepts.kcs.length > 0 && !graphStage.graph.hasSeed(seed) && !pendingSeeds.has(seed)) {
          pendingSeeds.add(seed);
          seedsSinceSample++;
        }
        pending.push(concepts);
        if (!c.lastInBatch) return ok([]);
        const due = owed();
        // Nothing owed (the cap reached), or nothing new since this process's last sample, which
        // was short on this very graph: a sample could find nothing. The messages enter the graph.
        if (due === 0 || (pendingSeeds.size === 0 && sampledSinceStart)) {
          flush();
          return ok([]);
        }
        const timeUp = everySeconds > 0 && Date.now() - lastSample >= everySeconds * 1000;
        const countUp = everySeeds > 0 && seedsSinceSample >= everySeeds;
        if (!timeUp && !countUp && !(await c.inputDrained())) return ok([]);
        flush();
        const combos = graphStage.sample(due, ctx.now());
        emitted += combos.length;
        seedsSinceSample = 0;
        sampledSinceStart = true;
        lastSample = Date.now();
        for (const combo of combos) combosEmitted.inc({ relation: combo.relation });
        if (combos.length < due) ctx.log('info', 'the graph supplies fewer combinations than owed; the rest stays owed', { owed: due, sampled: combos.length, seeds: graphStage.graph.seedCount });
        return ok(combos);
      },
    };
  },
});
