/**
 * A stage in a child process, stopped by real signals: SIGTERM drains and commits what it handled
 * and exits 0; SIGKILL mid-run loses nothing (a new member of the group redelivers the uncommitted
 * messages after the dead member's session expires).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Seed } from '../../schemas/generated/types.ts';
import { ok } from '../../services/runtime/handler.ts';
import { runStage } from '../../services/runtime/kafka/consumer.ts';
import { connectSerde, type Serde } from '../../services/runtime/kafka/serde.ts';
import { ensureTopics } from '../../services/runtime/kafka/topics.ts';
import type { AdminPort } from '../../services/runtime/kafka/transport.ts';
import { cleanup, committedTotal, config, readRecords, testSpec, transport, until, untilCaughtUp, produceSeeds } from './kafka-helpers.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kafka-stage-child.ts');
const SESSION_TIMEOUT_MS = 6000; // the broker's minimum (group.min.session.timeout.ms)
const run = Date.now();
const specs = ['term-in', 'term-out', 'kill-in', 'kill-out'].map((n) => testSpec('grip.seeds', `test.proc.${n}.${run}`));
const [termIn, termOut, killIn, killOut] = specs as [typeof specs[0], typeof specs[0], typeof specs[0], typeof specs[0]];
const groups: string[] = [];
const children: ChildProcess[] = [];
let admin: AdminPort;
let serde: Serde;

function startChild(input: string, output: string, groupId: string) {
  groups.push(groupId);
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, input, output, groupId, String(SESSION_TIMEOUT_MS)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

async function outputIds(topic: string, count: number): Promise<Set<string>> {
  const records = await readRecords(topic, count);
  return new Set(await Promise.all(records.map(async (r) => ((await serde.decode(topic, r.value)) as Seed).seed_id)));
}

beforeAll(async () => {
  admin = transport.admin();
  await ensureTopics(admin, specs);
  serde = await connectSerde({ url: config.registry.url, topics: specs });
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(async () => {
  await cleanup(admin, specs.flatMap((s) => [s.topic, s.dlq]), groups, specs.map((s) => s.topic));
  await admin.close();
});

describe('a stage process and signals (real broker)', () => {
  it('SIGTERM: stops polling, drains, commits exactly what it handled, exits 0', async () => {
    const n = 40;
    await produceSeeds(serde, termIn.topic, 'proc', run, n);
    const groupId = `term-${run}`;
    const proc = startChild(termIn.topic, termOut.topic, groupId);
    await until(async () => (await committedTotal(admin, groupId, termIn.topic)) > 0n, 'the child to commit a batch', 30_000);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    const handled = JSON.parse(proc.out().trim().split('\n').pop()!).stopped as number;
    expect(handled).toBeLessThan(n); // it stopped mid-run
    expect(await committedTotal(admin, groupId, termIn.topic)).toBe(BigInt(handled));
    expect((await outputIds(termOut.topic, 2 * handled)).size).toBe(2 * handled);
    expect(proc.err()).toContain('stage stopped');
  });

  it('SIGKILL mid-run: a new member of the group gets the uncommitted messages, nothing is lost', async () => {
    const n = 40;
    const seeds = await produceSeeds(serde, killIn.topic, 'proc', run, n);
    const groupId = `kill-${run}`;
    const proc = startChild(killIn.topic, killOut.topic, groupId);
    await until(async () => (await committedTotal(admin, groupId, killIn.topic)) > 0n, 'the child to commit a batch', 30_000);
    proc.child.kill('SIGKILL');
    await proc.exited;
    const committedAtKill = await committedTotal(admin, groupId, killIn.topic);
    expect(committedAtKill).toBeLessThan(BigInt(n));

    const survivor = await runStage<Seed, Seed>({
      name: `survivor-${run}`, inputTopic: killIn.topic, outputTopic: killOut.topic, dlqTopic: killIn.dlq, groupId, transport, serde,
      handleSignals: false, lagIntervalMs: 0, log: () => undefined, sessionTimeoutMs: SESSION_TIMEOUT_MS,
      handler: async (s) => ok([{ ...s, seed_id: `${s.seed_id}-a` }, { ...s, seed_id: `${s.seed_id}-b` }]),
    });
    await untilCaughtUp(admin, groupId, killIn.topic, 30_000);
    await survivor.stop();
    expect(survivor.stats().in).toBeGreaterThanOrEqual(n - Number(committedAtKill));
    const ids = await outputIds(killOut.topic, 2 * n);
    for (const s of seeds) {
      expect(ids.has(`${s.seed_id}-a`)).toBe(true);
      expect(ids.has(`${s.seed_id}-b`)).toBe(true);
    }
  }, 60_000);
});
