/**
 * runStage against the real broker and registry: a stage that doubles seeds from topic A to topic B.
 * Proves commit-after-side-effects (a crash mid-run loses nothing; a new member gets the uncommitted
 * messages again), dead letters with original bytes and headers, and a draining stop().
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Seed } from '../../schemas/generated/types.ts';
import { ok } from '../../services/runtime/handler.ts';
import { runStage, type StageHandle, type StageOptions } from '../../services/runtime/kafka/consumer.ts';
import { connectSerde, type Serde } from '../../services/runtime/kafka/serde.ts';
import { ensureTopics } from '../../services/runtime/kafka/topics.ts';
import type { AdminPort } from '../../services/runtime/kafka/transport.ts';
import { cleanup, committedTotal, config, readRecords, testSpec, transport, until, untilCaughtUp, produceSeeds, testSeed } from './kafka-helpers.ts';

const run = Date.now();
const specs = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => testSpec('grip.seeds', `test.stage.${n}.${run}`));
const [crashIn, crashOut, dlqIn, dlqOut, stopIn, stopOut] = specs as [typeof specs[0], typeof specs[0], typeof specs[0], typeof specs[0], typeof specs[0], typeof specs[0]];
const groups: string[] = [];
let admin: AdminPort;
let serde: Serde;

const double = async (s: Seed) => ok([{ ...s, seed_id: `${s.seed_id}-a` }, { ...s, seed_id: `${s.seed_id}-b` }]);

function stage(input: string, output: string, groupId: string, handler: StageOptions<Seed, Seed>['handler'], extra: Partial<StageOptions<Seed, Seed>> = {}): Promise<StageHandle> {
  groups.push(groupId);
  return runStage<Seed, Seed>({
    name: 'double',
    inputTopic: input,
    outputTopic: output,
    dlqTopic: `${input}.dlq`,
    groupId,
    handler,
    transport,
    serde,
    handleSignals: false,
    lagIntervalMs: 0,
    log: () => undefined,
    ...extra,
  });
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

describe('runStage on the real broker', () => {
  it('a crash mid-run commits nothing unfinished; a new member of the group redelivers it and nothing is lost', async () => {
    const n = 30;
    const seeds = await produceSeeds(serde, crashIn.topic, 'seed', run, n);
    const groupId = `double-crash-${run}`;

    // First member: small batches, one at a time; an unknown error on the 20th message crashes it.
    let calls = 0;
    const first = await stage(crashIn.topic, crashOut.topic, groupId, async (s, ctx) => {
      if (++calls === 20) throw new TypeError(`bug on ${s.seed_id} at offset ${ctx.record.offset}`);
      return double(s);
    }, { maxBatchRecords: 4, maxInFlightBatches: 1, concurrency: 1 });
    await expect(first.done).rejects.toThrow(/^bug on seed-/);
    const committedAtCrash = await committedTotal(admin, groupId, crashIn.topic);
    expect(committedAtCrash).toBeLessThan(BigInt(n)); // the crashed batch (and what followed) stayed uncommitted
    expect(committedAtCrash).toBeGreaterThan(0n); // batches finished before the crash were committed

    // Second member, same group: gets exactly the uncommitted messages again.
    const second = await stage(crashIn.topic, crashOut.topic, groupId, double);
    await untilCaughtUp(admin, groupId, crashIn.topic);
    expect(second.stats().in).toBe(n - Number(committedAtCrash));
    await second.stop();

    // Every input has both outputs (duplicates are allowed: at-least-once).
    const out = await readRecords(crashOut.topic, 2 * n);
    const outIds = new Set(await Promise.all(out.map(async (r) => ((await serde.decode(crashOut.topic, r.value)) as Seed).seed_id)));
    for (const s of seeds) {
      expect(outIds.has(`${s.seed_id}-a`)).toBe(true);
      expect(outIds.has(`${s.seed_id}-b`)).toBe(true);
    }
    for (const r of out) expect(r.key!.toString()).toBe(((await serde.decode(crashOut.topic, r.value)) as Seed).seed_id);
  });

  it('sends undecodable bytes to the DLQ with the original bytes, key and dlq-* headers, and goes on', async () => {
    const groupId = `double-dlq-${run}`;
    const producer = transport.producer();
    const badBytes = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x01, 0x02]);
    const good = testSeed('seed', run, 1);
    await producer.send([
      { topic: dlqIn.topic, key: Buffer.from('bad-key'), value: badBytes, headers: { origin: 'test' } },
      { topic: dlqIn.topic, key: serde.keyOf(dlqIn.topic, good), value: await serde.encode(dlqIn.topic, good) },
    ]);
    await producer.close();
    const before = Date.now();
    const h = await stage(dlqIn.topic, dlqOut.topic, groupId, double);
    await untilCaughtUp(admin, groupId, dlqIn.topic);
    await h.stop();
    expect(h.stats()).toMatchObject({ in: 2, out: 2, dlq: 1 });

    const [dead] = await readRecords(dlqIn.dlq, 1);
    expect(dead!.value!.equals(badBytes)).toBe(true);
    expect(dead!.key!.toString()).toBe('bad-key');
    const headers = Object.fromEntries(Object.entries(dead!.headers).map(([k, v]) => [k, v.toString()]));
    expect(headers).toMatchObject({ 'dlq-reason': 'decode_error', 'dlq-stage': 'double', 'dlq-source-topic': dlqIn.topic, origin: 'test' });
    expect(headers['dlq-detail']).toMatch(/magic byte 123, expected 0/);
    expect(Date.parse(headers['dlq-timestamp']!)).toBeGreaterThanOrEqual(before - 1000);
    expect((await readRecords(dlqOut.topic, 2)).length).toBe(2);
  });

  it('stop() drains the in-flight batch, commits it and leaves the group', async () => {
    const n = 6;
    await produceSeeds(serde, stopIn.topic, 'seed', run, n);
    const groupId = `double-stop-${run}`;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const h = await stage(stopIn.topic, stopOut.topic, groupId, async (s) => {
      await gate;
      return double(s);
    });
    await until(async () => h.stats().in > 0, 'a batch to start');
    const stopping = h.stop();
    expect(await committedTotal(admin, groupId, stopIn.topic)).toBe(0n); // nothing finished yet
    release();
    await stopping;
    const processed = h.stats().in;
    expect(await committedTotal(admin, groupId, stopIn.topic)).toBe(BigInt(processed));
    expect(h.stats().out).toBe(2 * processed);
    expect((await readRecords(stopOut.topic, 2 * processed)).length).toBe(2 * processed);
    await expect(h.done).resolves.toBeUndefined();
  });
});
