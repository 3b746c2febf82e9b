/** runStage on the real broker: lag and in-flight metrics on /metrics, and two members sharing a group. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Seed } from '../../schemas/generated/types.ts';
import { ok } from '../../services/runtime/handler.ts';
import { startOpsServer } from '../../services/runtime/http.ts';
import { runStage, type StageHandle, type StageOptions } from '../../services/runtime/kafka/consumer.ts';
import { connectSerde, type Serde } from '../../services/runtime/kafka/serde.ts';
import { ensureTopics } from '../../services/runtime/kafka/topics.ts';
import type { AdminPort } from '../../services/runtime/kafka/transport.ts';
import { cleanup, config, readRecords, testSpec, transport, until, untilCaughtUp, produceSeeds } from './kafka-helpers.ts';

const run = Date.now();
const lagIn = testSpec('grip.seeds', `test.ops.lag.${run}`);
const scaleIn = testSpec('grip.seeds', `test.ops.scale.${run}`, 6);
const scaleOut = testSpec('grip.seeds', `test.ops.scaleout.${run}`, 6);
const specs = [lagIn, scaleIn, scaleOut];
const groups: string[] = [];
let admin: AdminPort;
let serde: Serde;

function stage(name: string, input: string, groupId: string, handler: StageOptions<Seed, Seed>['handler'], extra: Partial<StageOptions<Seed, Seed>> = {}): Promise<StageHandle> {
  groups.push(groupId);
  return runStage<Seed, Seed>({ name, inputTopic: input, dlqTopic: `${input}.dlq`, groupId, handler, transport, serde, handleSignals: false, lagIntervalMs: 0, log: () => undefined, ...extra });
}

beforeAll(async () => {
  admin = transport.admin();
  await ensureTopics(admin, specs);
  serde = await connectSerde({ url: config.registry.url, topics: specs });
});
afterAll(async () => {
  await cleanup(admin, specs.flatMap((s) => [s.topic, s.dlq]), groups, specs.map((s) => s.topic));
  await admin.close();
});

function metric(text: string, name: string, stageName: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{stage="${stageName}"}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('runStage operations (real broker)', () => {
  it('reports consumer lag, in-flight batches and messages in on /metrics', async () => {
    const name = `lag-${run}`;
    await produceSeeds(serde, lagIn.topic, 'ops', run, 5);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const server = await startOpsServer({ port: 0 });
    const h = await stage(name, lagIn.topic, `lag-${run}`, async (s) => (await gate, ok(s)), { lagIntervalMs: 50 });
    try {
      const scrape = async () => (await fetch(`${server.url}/metrics`)).text();
      await until(async () => {
        const text = await scrape();
        return metric(text, 'grip_stage_consumer_lag_messages', name) === 5 && (metric(text, 'grip_stage_in_flight_batches', name) ?? 0) >= 1;
      }, 'lag 5 with a batch in flight');
      release();
      await untilCaughtUp(admin, `lag-${run}`, lagIn.topic);
      await until(async () => metric(await scrape(), 'grip_stage_consumer_lag_messages', name) === 0, 'lag 0');
      const text = await scrape();
      expect(metric(text, 'grip_stage_messages_in_total', name)).toBe(5);
      expect(metric(text, 'grip_stage_in_flight_batches', name)).toBe(0);
      expect(text).toContain(`grip_stage_batch_duration_seconds_count{stage="${name}"}`);
    } finally {
      await h.stop();
      await server.close();
    }
  });

  it('two members of one group share the partitions and together process every message', async () => {
    const groupId = `scale-${run}`;
    const handler = async (s: Seed) => {
      await new Promise((r) => setTimeout(r, 25)); // slow enough that the second member gets work
      return ok({ ...s, seed_id: `${s.seed_id}-out` });
    };
    const opts = { outputTopic: scaleOut.topic, concurrency: 1, maxBatchRecords: 5 };
    const first = await stage(`scale-a-${run}`, scaleIn.topic, groupId, handler, opts);
    const second = await stage(`scale-b-${run}`, scaleIn.topic, groupId, handler, opts);
    // both members hold partitions (the rebalance finished) before any message exists
    const owned = (h: StageHandle) => h.assignments().reduce((n, a) => n + a.partitions.length, 0);
    await until(async () => owned(first) + owned(second) === 6 && owned(first) > 0 && owned(second) > 0, 'both members to own partitions', 30_000);
    const seeds = await produceSeeds(serde, scaleIn.topic, 'ops', run, 60);
    await untilCaughtUp(admin, groupId, scaleIn.topic, 30_000);
    await Promise.all([first.stop(), second.stop()]);
    const [a, b] = [first.stats().in, second.stats().in];
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    expect(a + b).toBeGreaterThanOrEqual(60); // more only if a rebalance redelivered uncommitted work
    const out = await readRecords(scaleOut.topic, a + b);
    const ids = new Set(await Promise.all(out.map(async (r) => ((await serde.decode(scaleOut.topic, r.value)) as Seed).seed_id)));
    for (const s of seeds) expect(ids.has(`${s.seed_id}-out`)).toBe(true);
  });
});
