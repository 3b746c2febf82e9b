/**
 * concept-graph service: grip.concepts -> grip.pairs. Keeps the KC graph and the sampler.
 *
 * State is rebuilt from the logs on start: every combination already in grip.pairs is marked as
 * emitted, then every seed's concepts in grip.concepts are added to the graph. After each incoming
 * concepts message it samples up to `services.combinations_per_seed` new combinations (until
 * `services.max_combinations` were emitted in all). A combination's key is emitted once: a pair
 * produced before a crash is in grip.pairs, so the rebuilt sampler skips it; a replay of
 * grip.concepts only re-adds seeds the graph has.
 *
 * Run exactly one instance (`grip services up` does): the graph is global, and a second member of
 * the group would take half of the partitions and sample from a graph that misses the other half's
 * new seeds. Throughput is not the limit here: the stage makes no model calls.
 */
import { Counter, Gauge } from 'prom-client';
import type { Combination, SeedConcepts } from '../../schemas/generated/types.ts';
import { ok, type HandlerResult } from '../runtime/handler.ts';
import { readLog, runStage } from '../runtime/kafka/index.ts';
import { stageBase, type ServiceStarter } from '../runtime/service.ts';
import { graphStageFrom } from './stage.ts';

const graphSeeds = new Gauge({ name: 'grip_graph_seeds', help: 'Seeds in the KC graph' });
const graphKcs = new Gauge({ name: 'grip_graph_kcs', help: 'KCs (nodes) in the KC graph' });
const combosEmitted = new Counter({ name: 'grip_graph_combinations_total', help: 'Combinations emitted to grip.pairs, by relation', labelNames: ['relation'] as const });
const conflicts = new Counter({ name: 'grip_graph_seed_conflicts_total', help: 'Concepts of a seed already in the graph with other KCs (kept the first)' });

export const startConceptGraph: ServiceStarter = async (ctx) => {
  const { settings } = ctx;
  const graphStage = graphStageFrom(settings);
  let emitted = 0;
  const pairs = await readLog<Combination>({
    transport: ctx.transport,
    serde: ctx.serde,
    topic: 'grip.pairs',
    name: 'concept-graph-pairs',
    onValue: (combo) => {
      if (graphStage.markEmitted(combo, ctx.log)) emitted++;
    },
  });
  await pairs.done;
  const concepts = await readLog<SeedConcepts>({
    transport: ctx.transport,
    serde: ctx.serde,
    topic: 'grip.concepts',
    name: 'concept-graph-concepts',
    onValue: (c) => void graphStage.rebuild(c, ctx.log),
  });
  await concepts.done;
  const refreshGauges = () => {
    graphSeeds.set(graphStage.graph.seedCount);
    graphKcs.set(graphStage.graph.graph.order);
  };
  refreshGauges();
  ctx.log('info', 'graph rebuilt from grip.pairs and grip.concepts', { combinations_emitted: emitted, seeds: graphStage.graph.seedCount });

  const { combinations_per_seed: perSeed, max_combinations: maxTotal } = settings.services;
  const stage = await runStage<SeedConcepts, Combination>({
    ...stageBase(ctx, 'concept-graph'),
    // The graph and the sampler are one state: messages are applied one at a time, in order.
    concurrency: 1,
    maxInFlightBatches: 1,
    handler: async (concepts): Promise<HandlerResult<Combination[]>> => {
      const checked = graphStage.check(concepts);
      if (checked.kind !== 'ok') return checked;
      const outcome = graphStage.ingest(concepts);
      if (outcome === 'conflict') conflicts.inc();
      refreshGauges();
      const budget = maxTotal > 0 ? Math.max(0, Math.min(perSeed, maxTotal - emitted)) : perSeed;
      const combos = budget > 0 ? graphStage.sample(budget, Date.now()) : [];
      emitted += combos.length;
      for (const c of combos) combosEmitted.inc({ relation: c.relation });
      return ok(combos);
    },
  });
  return { healthy: () => stage.healthy(), done: stage.done, stop: () => stage.stop() };
};
