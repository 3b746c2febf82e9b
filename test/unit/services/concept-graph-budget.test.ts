/**
 * concept-graph keeps the combination budget its seeds earned across stops and restarts. The
 * stage's ordered step buffers concepts and samples only when a sample is due, but runStage commits
 * every batch it handled: a stop after a batch whose seeds were not sampled yet must not lose their
 * combinations. Run with the real declaration (setup rebuilds the graph from grip.pairs and
 * grip.concepts, as the service does) on the in-process transport, stopped gracefully after EVERY
 * committed batch and started again: the same number of combinations as a run without stops.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Combination, SeedConcepts } from '../../../schemas/generated/types.ts';
import { conceptGraph } from '../../../services/concept-graph/stage.ts';
import { loadConfig } from '../../../services/runtime/config.ts';
import { ensureTopics, InProcessTransport, localSerde, type ConsumerPort, type KafkaTransport, type Serde } from '../../../services/runtime/kafka/index.ts';
import { parseRunFile, resolveRunSettings, type RunSettings } from '../../../services/runtime/settings.ts';
import { groupOf, startStage, type StageSetupContext } from '../../../services/runtime/stage.ts';
import { LLM_STEPS } from '../../../services/stages.ts';
import { accountCombinations, budgetViolation } from '../../faults/budget.ts';

const POOL = Array.from({ length: 14 }, (_, i) => `kc-${String(i).padStart(2, '0')}`);

function concepts(seedId: string, kcIds: string[]): SeedConcepts {
  return {
    concepts_id: `c-${seedId}`, seed_id: seedId, dropped: [], created_at: 0,
    kcs: kcIds.map((k) => ({ kc_id: k, name: `name of ${k}`, raw_name: k, outcome: 'new', similarity: 1 })),
    lineage: { seed_ids: [seedId], kc_ids: kcIds, combo_id: null, steps: [] },
  };
}

/** `n` seeds of 4 KCs each from a pool of 14: a connected graph with far more than 5 combinations per seed. */
function seeds(n: number): SeedConcepts[] {
  return Array.from({ length: n }, (_, i) => concepts(`seed-${String(i).padStart(3, '0')}`, [0, 1, 3, 6].map((d) => POOL[(i * 3 + d) % POOL.length]!)));
}

function settingsWith(services: { combinations_per_seed: number; max_combinations: number; sample_every_seeds?: number; sample_every_seconds?: number }): RunSettings {
  return resolveRunSettings(parseRunFile({ seed: 5, services: { sample_every_seeds: 200, sample_every_seconds: 30, ...services } }), {}, loadConfig({}), LLM_STEPS);
}

/**
 * The in-process transport, except that each consumer of concept-graph's group hands out one poll
 * (one batch per partition) and then waits: a stage started on it handles exactly one batch before
 * the test stops it. State readers (other groups) read as usual.
 */
function oneBatchPerStart(inner: InProcessTransport): KafkaTransport {
  return {
    producer: () => inner.producer(),
    admin: () => inner.admin(),
    consumer: async (options) => {
      const consumer = await inner.consumer(options);
      if (options.groupId !== groupOf(conceptGraph)) return consumer;
      let served = false;
      const limited: ConsumerPort = {
        nextBatches: async (signal) => {
          if (!served) {
            served = true;
            return consumer.nextBatches(signal);
          }
          await new Promise<void>((resolve) => (signal?.aborted ? resolve() : signal?.addEventListener('abort', () => resolve(), { once: true })));
          return [];
        },
        commit: (offsets) => consumer.commit(offsets),
        assignments: () => consumer.assignments(),
        close: () => consumer.close(),
      };
      return limited;
    },
  };
}

interface Pipeline {
  transport: InProcessTransport;
  serde: Serde;
  ctx: (transport: KafkaTransport) => StageSetupContext;
}

async function pipeline(settings: RunSettings, input: SeedConcepts[], partitions = 1, checkpoints?: { dir: string; everyRecords?: number; logs: Array<{ message: string; fields: Record<string, unknown> }> }): Promise<Pipeline> {
  const transport = new InProcessTransport({ partitions, now: () => 0 });
  const serde = localSerde();
  await ensureTopics(transport.admin());
  const records = await Promise.all(input.map(async (c) => ({ topic: 'grip.concepts', key: serde.keyOf('grip.concepts', c), value: await serde.encode('grip.concepts', c) })));
  await transport.producer().send(records);
  const ctx = (t: KafkaTransport): StageSetupContext => ({
    settings, transport: t, serde, now: () => 0,
    log: (_level, message, fields = {}) => void checkpoints?.logs.push({ message, fields }),
    checkpoints: checkpoints ? { dir: checkpoints.dir, everyRecords: checkpoints.everyRecords } : undefined,
    llm: () => { throw new Error('concept-graph calls no model'); },
    embeddings: () => { throw new Error('concept-graph calls no model'); },
  });
  return { transport, serde, ctx };
}

async function committed(transport: InProcessTransport): Promise<bigint> {
  const offsets = await transport.admin().groupOffsets(groupOf(conceptGraph), ['grip.concepts']);
  return offsets.reduce((sum, o) => sum + o.offset, 0n);
}

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function combinations(p: Pipeline): Promise<Combination[]> {
  return Promise.all(p.transport.records('grip.pairs').map(async (r) => (await p.serde.decode('grip.pairs', r.value)) as Combination));
}

/** The fault suite's accounting (test/faults/budget.ts) of an in-process run. */
async function account(p: Pipeline, settings: RunSettings) {
  const concepts = await Promise.all(p.transport.records('grip.concepts').map(async (r) => (await p.serde.decode('grip.concepts', r.value)) as SeedConcepts));
  return accountCombinations(settings, concepts, await combinations(p));
}

/** One start, until every concepts message is committed, then a graceful stop (what `grip run` does). */
async function runOnce(p: Pipeline, total: number): Promise<void> {
  const stage = await startStage(conceptGraph, p.ctx(p.transport));
  await until(async () => (await committed(p.transport)) >= BigInt(total), 'every message committed');
  await stage.stop();
  await stage.done;
}

/** A start per batch: each handles one batch, is stopped gracefully once it committed it, and a new one (new setup, state rebuilt from the logs) takes over. */
async function runStoppingAfterEachBatch(p: Pipeline, total: number, batch: number): Promise<number> {
  const transport = oneBatchPerStart(p.transport);
  let starts = 0;
  for (let done = 0n; done < BigInt(total); ) {
    const before = done;
    const stage = await startStage(conceptGraph, p.ctx(transport), { maxBatchRecords: batch });
    starts++;
    await until(async () => (done = await committed(p.transport)) > before, `a batch committed after ${before}`);
    await stage.stop();
    await stage.done;
  }
  return starts;
}

function expectNoRepeat(combos: Combination[]): void {
  const keys = combos.map((c) => c.key);
  expect(keys.length - new Set(keys).size, 'combination keys emitted twice').toBe(0);
}

describe('concept-graph: the combination budget survives stops and restarts', () => {
  const SEEDS = 20;
  const PER_SEED = 5;

  it('without restarts: seeds x combinations_per_seed', async () => {
    const p = await pipeline(settingsWith({ combinations_per_seed: PER_SEED, max_combinations: 0 }), seeds(SEEDS));
    await runOnce(p, SEEDS);
    const combos = await combinations(p);
    expectNoRepeat(combos);
    expect(combos).toHaveLength(SEEDS * PER_SEED);
  });

  it('stopped gracefully after every committed batch and started again: still seeds x combinations_per_seed', async () => {
    const p = await pipeline(settingsWith({ combinations_per_seed: PER_SEED, max_combinations: 0 }), seeds(SEEDS));
    const starts = await runStoppingAfterEachBatch(p, SEEDS, 3);
    expect(starts).toBe(Math.ceil(SEEDS / 3));
    const combos = await combinations(p);
    expectNoRepeat(combos);
    expect(combos).toHaveLength(SEEDS * PER_SEED);
  });

  it('the same with six partitions (batches of several partitions per poll)', async () => {
    const p = await pipeline(settingsWith({ combinations_per_seed: PER_SEED, max_combinations: 0 }), seeds(SEEDS), 6);
    await runStoppingAfterEachBatch(p, SEEDS, 4);
    const combos = await combinations(p);
    expectNoRepeat(combos);
    expect(combos).toHaveLength(SEEDS * PER_SEED);
  });

  it('with checkpoints: every restart reads the checkpoint and the tail after it, and the budget still holds', async () => {
    const checkpoints = { dir: fs.mkdtempSync(path.join(os.tmpdir(), 'grip-graph-ckpt-')), logs: [] as Array<{ message: string; fields: Record<string, unknown> }> };
    // a sample after every 3 seeds: each start emits, so each restart has a tail of pairs to read
    const p = await pipeline(settingsWith({ combinations_per_seed: PER_SEED, max_combinations: 0, sample_every_seeds: 3 }), seeds(SEEDS), 3, checkpoints);
    const starts = await runStoppingAfterEachBatch(p, SEEDS, 3);
    const combos = await combinations(p);
    expectNoRepeat(combos);
    expect(combos).toHaveLength(SEEDS * PER_SEED);
    const restored = checkpoints.logs.filter((l) => l.message === 'concept-graph state restored from its checkpoint');
    expect(restored).toHaveLength(starts - 1); // every start after the first
    // each restart read only what the start before it added: never the whole of grip.pairs again
    const rebuilds = checkpoints.logs.filter((l) => l.message === 'graph rebuilt from grip.pairs and grip.concepts').map((l) => l.fields);
    const emitted = rebuilds.map((f) => Number(f.combinations_emitted));
    expect(emitted.at(-1)).toBeGreaterThan(0);
    for (let i = 1; i < rebuilds.length; i++) expect(rebuilds[i]!.pairs_read, `start ${i + 1}`).toBe(emitted[i]! - emitted[i - 1]!);
    expect(checkpoints.logs.filter((l) => l.message.includes('checkpoint not used')).map((l) => l.fields.reason)).toEqual(['no checkpoint']);
  });

  it('checkpoints taken between batches, with concepts waiting for a sample: a restart re-reads those and owes what they earned', async () => {
    const logs: Array<{ message: string; fields: Record<string, unknown> }> = [];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-graph-ckpt-'));
    const p = await pipeline(settingsWith({ combinations_per_seed: PER_SEED, max_combinations: 0, sample_every_seeds: 7, sample_every_seconds: 0 }), [], 2, { dir, everyRecords: 1, logs });
    // Up before the concepts arrive: they wait in `pending` between samples (every 7 seeds), and
    // a checkpoint is due at every batch's first record.
    // A steady inflow: once set up, the stage never finds its input drained (one more record always
    // seems to come), so it samples by count only and concepts wait across batches.
    let phantom = false;
    const inflow: KafkaTransport = {
      producer: () => p.transport.producer(),
      consumer: (o) => p.transport.consumer(o),
      admin: () => {
        const admin = p.transport.admin();
        return Object.assign(Object.create(admin) as typeof admin, {
          endOffsets: async (topics: string[]) => (await admin.endOffsets(topics)).map((e) => (phantom && e.topic === 'grip.concepts' ? { ...e, offset: e.offset + 1n } : e)),
        });
      },
    };
    const stage = await startStage(conceptGraph, p.ctx(inflow), { maxBatchRecords: 2 });
    phantom = true;
    const all = seeds(SEEDS);
    const file = path.join(dir, 'concept-graph.checkpoint');
    const copies: Array<{ facts: Record<string, unknown>; bytes: Buffer }> = [];
    const writes = () => logs.filter((l) => l.message === 'state checkpoint written').length;
    for (let i = 0; i < SEEDS; i += 2) {
      // two at a time, each pair handled (and the checkpoint its batch began with written) before the next arrives
      const before = writes();
      await p.transport.producer().send(await Promise.all(all.slice(i, i + 2).map(async (c) => ({ topic: 'grip.concepts', key: p.serde.keyOf('grip.concepts', c), value: await p.serde.encode('grip.concepts', c) }))));
      await until(async () => (await committed(p.transport)) >= BigInt(Math.min(SEEDS, i + 2)), `${i + 2} messages committed`);
      if (i > 0) {
        await until(async () => writes() > before, `the checkpoint before seed ${i}`);
        copies.push({ facts: logs.filter((l) => l.message === 'state checkpoint written').at(-1)!.fields, bytes: fs.readFileSync(file) });
      }
    }
    await stage.stop();
    await stage.done;
    expect(copies.length).toBeGreaterThan(3); // at batch starts, not only at start
    const emittedBefore = (await combinations(p)).length;
    expect(emittedBefore).toBeLessThan(SEEDS * PER_SEED); // the last seeds still wait
    // The last checkpoint taken with seeds waiting for a sample, combinations emitted before it and after it.
    const chosen = copies.filter((c) => Number(c.facts.waiting_seeds) > 0 && Number(c.facts.combinations_emitted) > 0 && Number(c.facts.combinations_emitted) < emittedBefore).at(-1)!;
    expect(chosen).toBeDefined();
    const last = chosen.facts;
    fs.writeFileSync(file, chosen.bytes);

    // A restart from it, with one more seed: the waiting seeds are read again, the combinations
    // after the checkpoint are the tail, and the budget of all 21 seeds is met, nothing twice.
    logs.length = 0;
    await p.transport.producer().send([{ topic: 'grip.concepts', key: Buffer.from('seed-late'), value: await p.serde.encode('grip.concepts', concepts('seed-late', ['kc-01', 'kc-04', 'kc-11'])) }]);
    await runOnce(p, SEEDS + 1);
    const restored = logs.find((l) => l.message === 'concept-graph state restored from its checkpoint')!.fields;
    const rebuilt = logs.find((l) => l.message === 'graph rebuilt from grip.pairs and grip.concepts')!.fields;
    expect(restored.combinations_emitted).toBe(last.combinations_emitted);
    expect(rebuilt.pairs_read).toBe(emittedBefore - Number(last.combinations_emitted));
    expect(rebuilt.seeds).toBe(SEEDS + 1);
    const combos = await combinations(p);
    expectNoRepeat(combos);
    expect(combos).toHaveLength((SEEDS + 1) * PER_SEED);
  }, 30_000);

  it('a damaged or other-settings checkpoint is ignored with its reason and the logs are read whole', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-graph-ckpt-'));
    const logs: Array<{ message: string; fields: Record<string, unknown> }> = [];
    const settings = settingsWith({ combinations_per_seed: PER_SEED, max_combinations: 0 });
    const p = await pipeline(settings, seeds(SEEDS), 1, { dir, logs });
    await runOnce(p, SEEDS);
    await new Promise((r) => setTimeout(r, 50)); // the checkpoint written in the background
    const file = path.join(dir, 'concept-graph.checkpoint');
    const whole = fs.readFileSync(file);
    fs.writeFileSync(file, whole.subarray(0, whole.length - 10));
    await p.transport.producer().send([{ topic: 'grip.concepts', key: Buffer.from('seed-new'), value: await p.serde.encode('grip.concepts', concepts('seed-new', ['kc-00', 'kc-05', 'kc-09'])) }]);
    logs.length = 0;
    await runOnce(p, SEEDS + 1);
    expect(logs.find((l) => l.message.startsWith('concept-graph checkpoint not used'))?.fields.reason).toMatch(/truncated or corrupted/);
    expect(logs.find((l) => l.message === 'graph rebuilt from grip.pairs and grip.concepts')?.fields.pairs_read).toBe(SEEDS * PER_SEED);
    const combos = await combinations(p);
    expectNoRepeat(combos);
    expect(combos).toHaveLength((SEEDS + 1) * PER_SEED);
    // another sampler seed: another fingerprint
    const other = await pipeline(resolveRunSettings(parseRunFile({ seed: 6, services: { combinations_per_seed: PER_SEED } }), {}, loadConfig({}), LLM_STEPS), seeds(4), 1, { dir, logs });
    logs.length = 0;
    await runOnce(other, 4);
    expect(logs.find((l) => l.message.startsWith('concept-graph checkpoint not used'))?.fields.reason).toMatch(/other settings/);
  });

  it('max_combinations caps the total, with or without restarts', async () => {
    const MAX = 37;
    const settings = settingsWith({ combinations_per_seed: PER_SEED, max_combinations: MAX });
    const once = await pipeline(settings, seeds(SEEDS));
    await runOnce(once, SEEDS);
    expect(await combinations(once)).toHaveLength(MAX);
    const restarted = await pipeline(settings, seeds(SEEDS));
    await runStoppingAfterEachBatch(restarted, SEEDS, 3);
    const combos = await combinations(restarted);
    expectNoRepeat(combos);
    expect(combos).toHaveLength(MAX);
  });

  it('without restarts, the same seeds arriving in another order give the same combinations', async () => {
    const settings = settingsWith({ combinations_per_seed: PER_SEED, max_combinations: 0 });
    // The stage is up before the concepts arrive (all in one send): they wait in `pending`, not in the rebuilt graph.
    const keysOf = async (input: SeedConcepts[]) => {
      const p = await pipeline(settings, []);
      const stage = await startStage(conceptGraph, p.ctx(p.transport));
      await p.transport.producer().send(await Promise.all(input.map(async (c) => ({ topic: 'grip.concepts', key: p.serde.keyOf('grip.concepts', c), value: await p.serde.encode('grip.concepts', c) }))));
      await until(async () => (await committed(p.transport)) >= BigInt(input.length), 'every message committed');
      await stage.stop();
      await stage.done;
      return (await combinations(p)).map((c) => c.key);
    };
    const inOrder = await keysOf(seeds(SEEDS));
    expect(inOrder).toHaveLength(SEEDS * PER_SEED);
    expect(await keysOf(seeds(SEEDS).map((c, i) => ({ c, k: (i * 7) % SEEDS })).sort((a, b) => a.k - b.k).map(({ c }) => c))).toEqual(inOrder);
  });

  it("grip run's rule (combinations = per seed = max, no periodic sample): one sample, after every seed, over many batches", async () => {
    const N = 12;
    const settings = settingsWith({ combinations_per_seed: N, max_combinations: N, sample_every_seeds: 0, sample_every_seconds: 0 });
    const p = await pipeline(settings, seeds(SEEDS));
    let samples = 0;
    const counting: KafkaTransport = {
      consumer: (o) => p.transport.consumer(o),
      admin: () => p.transport.admin(),
      producer: () => {
        const inner = p.transport.producer();
        return { send: async (records) => void (records.some((r) => r.topic === 'grip.pairs') && samples++, await inner.send(records)), close: () => inner.close() };
      },
    };
    const stage = await startStage(conceptGraph, p.ctx(counting), { maxBatchRecords: 3 });
    await until(async () => (await committed(p.transport)) >= BigInt(SEEDS), 'every message committed');
    await stage.stop();
    await stage.done;
    expect(samples).toBe(1);
    expect(await combinations(p)).toHaveLength(N);
  });

  it('a graph that cannot supply the budget: what it has, once, with or without restarts; the rest stays owed', async () => {
    // Three seeds of two KCs each, apart: three explicit pairs and nothing else, for a budget of 15.
    const input = [concepts('s-a', ['kc-a1', 'kc-a2']), concepts('s-b', ['kc-b1', 'kc-b2']), concepts('s-c', ['kc-c1', 'kc-c2'])];
    const settings = settingsWith({ combinations_per_seed: PER_SEED, max_combinations: 0 });
    const once = await pipeline(settings, input);
    await runOnce(once, input.length);
    expect((await combinations(once)).map((c) => c.key).sort()).toEqual(['kc-a1|kc-a2', 'kc-b1|kc-b2', 'kc-c1|kc-c2']);
    const restarted = await pipeline(settings, input);
    await runStoppingAfterEachBatch(restarted, input.length, 1);
    expect((await combinations(restarted)).map((c) => c.key).sort()).toEqual(['kc-a1|kc-a2', 'kc-b1|kc-b2', 'kc-c1|kc-c2']);
    expect(await account(restarted, settings)).toEqual({ seeds: 3, budget: 15, reachable: 3, emitted: 3 });
    expect(budgetViolation(await account(restarted, settings))).toBeNull();
    // A seed joining the three later opens more than the 5 it earns: the shortfall was carried
    // forward, so the stage takes all of them (without it: 3 + 5).
    await restarted.transport.producer().send([{ topic: 'grip.concepts', key: Buffer.from('s-d'), value: await restarted.serde.encode('grip.concepts', concepts('s-d', ['kc-a2', 'kc-b1', 'kc-c1'])) }]);
    await runOnce(restarted, input.length + 1);
    // 3 + 10: three new pairs, their triangle and six 2-hop pairs.
    expect(await account(restarted, settings)).toEqual({ seeds: 4, budget: 20, reachable: 13, emitted: 13 });
  });

  it("the fault suite's accounting: exact where the graph supplies the budget, and it sees the loss this stage had", async () => {
    const settings = settingsWith({ combinations_per_seed: PER_SEED, max_combinations: 0 });
    const p = await pipeline(settings, seeds(SEEDS));
    await runStoppingAfterEachBatch(p, SEEDS, 3);
    const a = await account(p, settings);
    expect(a).toEqual({ seeds: SEEDS, budget: SEEDS * PER_SEED, reachable: SEEDS * PER_SEED, emitted: SEEDS * PER_SEED });
    expect(budgetViolation(a)).toBeNull();
    // What the stage emitted before this fix, stopped after each batch of 3: 10 of 100.
    expect(budgetViolation({ ...a, emitted: 10 })).toMatch(/^combinations lost: 20 seeds with KCs earned 100 combinations \(the final graph supplies all of them\); grip.pairs holds 10$/);
    expect(budgetViolation({ ...a, emitted: 101 })).toMatch(/^more combinations than earned/);
    const capped = settingsWith({ combinations_per_seed: PER_SEED, max_combinations: 37 });
    expect(accountCombinations(capped, seeds(SEEDS), [])).toMatchObject({ seeds: SEEDS, budget: 37, reachable: 37, emitted: 0 });
  });

  it('a seed earns once: its concepts delivered twice, or a message without KCs, earn nothing more', async () => {
    const distinct = seeds(12);
    const input = [...distinct.slice(0, 6), distinct[2]!, concepts('seed-empty', []), ...distinct.slice(6), distinct[0]!, distinct[7]!];
    const settings = settingsWith({ combinations_per_seed: PER_SEED, max_combinations: 0 });
    const once = await pipeline(settings, input);
    await runOnce(once, input.length);
    expect(await combinations(once)).toHaveLength(12 * PER_SEED);
    const restarted = await pipeline(settings, input);
    await runStoppingAfterEachBatch(restarted, input.length, 2);
    const combos = await combinations(restarted);
    expectNoRepeat(combos);
    expect(combos).toHaveLength(12 * PER_SEED);
  });
});
