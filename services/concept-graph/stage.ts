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
import { declareStage, readState, type StageSetupContext } from '../runtime/stage.ts';
import { canonicalJson, shortHash } from '../../core/util/hash.ts';
import { Checkpointer, PositionTracker, restoreCheckpoint, type Positions } from '../runtime/checkpoint.ts';
import { bySeedId, combinationBudget, ConceptGraphStage, GRAPH_STATE_FORMAT, samplerOptionsFrom } from './graph.ts';
import type { SamplerOptions } from '../../core/combos/index.ts';

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
    const samplerOptions = samplerOptionsFrom(settings);
    // The checkpoint holds the state of this sampler layout only (seed, quotas, weights, hubs).
    const fingerprint = shortHash(canonicalJson(samplerOptions), 16);
    const restored = await restore(ctx, samplerOptions, fingerprint);
    const graphStage = restored.stage;
    let emitted = restored.emitted;
    const tracker = new PositionTracker(restored.positions);
    const t0 = performance.now();
    const pairsReader = await readState<Combination>(ctx, 'grip.pairs', 'concept-graph-pairs', (combo, r) => {
      if (graphStage.markEmitted(combo, ctx.log)) emitted++;
      tracker.applied(r.topic, r.partition, r.offset);
    }, false, tracker.of('grip.pairs'));
    await pairsReader.done;
    const rebuilt: SeedConcepts[] = [];
    const conceptsReader = await readState<SeedConcepts>(ctx, 'grip.concepts', 'concept-graph-concepts', (c, r) => {
      rebuilt.push(c);
      tracker.applied(r.topic, r.partition, r.offset);
    }, false, tracker.of('grip.concepts'));
    await conceptsReader.done;
    for (const c of bySeedId(rebuilt)) graphStage.rebuild(c, ctx.log);
    rebuilt.length = 0;
    const refreshGauges = () => {
      graphSeeds.set(graphStage.graph.seedCount);
      graphKcs.set(graphStage.graph.graph.order);
    };
    refreshGauges();
    ctx.log('info', 'graph rebuilt from grip.pairs and grip.concepts', { combinations_emitted: emitted, seeds: graphStage.graph.seedCount, pairs_read: pairsReader.count(), concepts_read: conceptsReader.count(), seconds: Math.round(performance.now() - t0) / 1000 });

    /** Per partition of grip.concepts, the first offset among the concepts waiting for the next sample. */
    const pendingFrom = new Map<number, bigint>();
    const checkpointer = new Checkpointer({
      dir: ctx.checkpoints?.dir ?? null,
      everyRecords: ctx.checkpoints?.everyRecords,
      everyMs: ctx.checkpoints?.everyMs,
      stage: 'concept-graph',
      format: GRAPH_STATE_FORMAT,
      fingerprint,
      auto: false,
      take: () => {
        const positions = tracker.snapshot();
        // concepts that wait are not in the graph yet: a restart reads them again from the log
        const concepts = positions.get('grip.concepts') ?? new Map<number, bigint>();
        for (const [partition, first] of pendingFrom) if (first < (concepts.get(partition) ?? 0n)) concepts.set(partition, first);
        positions.set('grip.concepts', concepts);
        return { positions, sections: { ...graphStage.exportSections(), emitted: Buffer.from(String(emitted)) }, facts: { seeds: graphStage.graph.seedCount, waiting_seeds: pendingSeeds.size, combinations_emitted: emitted } };
      },
      log: ctx.log,
    });
    /**
     * Positions of grip.pairs that cover every combination emitted: asked at a batch's first record,
     * when the batch before it was sent and committed (one batch in flight), before this one emits.
     */
    const coverEmitted = async () => {
      const admin = ctx.transport.admin();
      try {
        for (const e of await admin.endOffsets(['grip.pairs'])) if (e.offset > 0n) tracker.applied(e.topic, e.partition, e.offset - 1n);
      } finally {
        await admin.close().catch(() => undefined);
      }
    };
    let batchStart = true;

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
      pendingFrom.clear();
      pendingSeeds.clear();
      refreshGauges();
    };
    // After reading a tail at start, at once: nothing was emitted since the logs were read.
    checkpointer.applied(pairsReader.count() + conceptsReader.count());
    void checkpointer.write();
    return {
      // A malformed message goes to the DLQ here, before it could reach the graph.
      handle: async (concepts) => graphStage.check(concepts),
      ordered: async (concepts, _value, c) => {
        // Not at a stop: a batch whose send failed may have sampled combinations that never reached grip.pairs.
        if (batchStart && checkpointer.due()) {
          await coverEmitted();
          void checkpointer.write();
        }
        batchStart = c.lastInBatch;
        const { partition, offset } = c.record;
        tracker.applied('grip.concepts', partition, offset);
        checkpointer.applied();
        const seed = concepts.seed_id;
        if (concepts.kcs.length > 0 && !graphStage.graph.hasSeed(seed) && !pendingSeeds.has(seed)) {
          pendingSeeds.add(seed);
          seedsSinceSample++;
        }
        pending.push(concepts);
        if (offset < (pendingFrom.get(partition) ?? offset + 1n)) pendingFrom.set(partition, offset);
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
      // a checkpoint being written is finished; none is begun here (see coverEmitted)
      stop: () => checkpointer.flush(),
    };
  },
});

/** The checkpointed graph, sampler and count, with the positions they cover; or an empty stage read from the first records. */
async function restore(ctx: StageSetupContext, samplerOptions: SamplerOptions, fingerprint: string): Promise<{ stage: ConceptGraphStage; emitted: number; positions: Positions | undefined }> {
  const admin = ctx.transport.admin();
  const restored = await restoreCheckpoint({
    checkpoints: ctx.checkpoints,
    endOffsets: (topics) => admin.endOffsets(topics),
    stage: 'concept-graph',
    format: GRAPH_STATE_FORMAT,
    fingerprint,
    log: ctx.log,
    load: (checkpoint) => {
      const stage = ConceptGraphStage.importSections(samplerOptions, checkpoint.sections);
      const raw = checkpoint.sections.emitted;
      const emitted = raw === undefined ? NaN : Number(Buffer.from(raw).toString('utf8'));
      if (!Number.isInteger(emitted) || emitted < 0) throw new Error('concept-graph state: the emitted count is missing or malformed');
      return { state: { stage, emitted }, facts: { seeds: stage.graph.seedCount, combinations_emitted: emitted } };
    },
  }).finally(() => admin.close().catch(() => undefined));
  return restored ? { ...restored.state, positions: restored.positions } : { stage: new ConceptGraphStage(samplerOptions), emitted: 0, positions: undefined };
}
