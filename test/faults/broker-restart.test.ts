/**
 * Fault: the Kafka broker stops for 30 s while work is in flight (a routine rolling restart), then
 * comes back. Every service of `grip services up` must ride it out in its own process: none exits
 * (same pids, no supervisor restart), each says what it waits on meanwhile, all answer /healthz 200
 * within 60 s of the broker's return, and the pipeline then drains with nothing lost: every seed
 * has concepts, every combination a candidate, every candidate a verdict, every invariant holds.
 */
import { describe, expect, it } from 'vitest';
import { isAlive, readRecord } from '../../cli/ops/manager.ts';
import { stackDown, stackUp } from '../../deploy/local/stack.ts';
import { loadConfig } from '../../services/runtime/config.ts';
import { expectAccountedFor, faultScenario, grip, scalar, seedsFile, topicRecords, up, waitFor, waitUntilIdle } from './helpers.ts';

const SEEDS = 12;
const OUTAGE_MS = 30_000;
const PIPELINE = ['seed-ingest', 'concept-extractor', 'concept-graph', 'problem-synth', 'judge', 'clickhouse-sink'];
const s = faultScenario(
  'broker-restart',
  ['seed: 11', 'concurrency: 3', 'services:', '  combinations_per_seed: 2', '  max_combinations: 20', 'judging:', '  threshold: 0.5'],
  { latencyMs: () => 100 + Math.floor(Math.random() * 300) },
);

async function health(url: string): Promise<{ code: number; status?: string; dependency?: string }> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) });
    return { code: res.status, ...((await res.json()) as { status?: string; dependency?: string }) };
  } catch {
    return { code: 0 };
  }
}

describe('the broker stopped for 30 s mid-run', () => {
  it('no service exits, all are healthy within 60 s of its return, and nothing is lost', async () => {
    const { f, ch } = s;
    const stack = loadConfig();
    up(f, PIPELINE);
    expect(grip(['seed', 'add', seedsFile(f.work, SEEDS)], f.env).status).toBe(0);
    // Work in flight in the middle of the pipeline.
    await waitFor('combinations to reach problem-synth', async () => (await topicRecords(f.config, 'grip.pairs')) >= 2, 180_000, 100);
    const before = Object.fromEntries(PIPELINE.map((name) => [name, readRecord(f.config, name)!]));

    await stackDown(stack, { only: ['kafka'] });
    const waiting = new Set<string>();
    const exited = new Set<string>();
    try {
      const outageEnds = Date.now() + OUTAGE_MS;
      while (Date.now() < outageEnds) {
        for (const name of PIPELINE) {
          const h = await health(before[name]!.url);
          if (h.status === 'waiting' && h.dependency === 'kafka') waiting.add(name);
          if (!isAlive(before[name]!.pid)) exited.add(name);
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    } finally {
      // Whatever happened, the broker comes back: the rest of the suite needs it.
      await stackUp(stack, { only: ['kafka'], progress: () => undefined });
    }
    expect([...exited], 'services that exited during the outage').toEqual([]);
    const back = Date.now();

    await waitFor(
      'every service healthy again',
      async () => (await Promise.all(PIPELINE.map((name) => health(before[name]!.url)))).every((h) => h.code === 200),
      60_000,
      500,
    );
    expect(Date.now() - back).toBeLessThanOrEqual(60_000);
    const status = JSON.parse(grip(['services', 'status', '--json'], f.env).stdout);
    for (const name of PIPELINE) {
      expect(status[name].pid, `${name} kept its process (no exit, no supervisor restart)`).toBe(before[name]!.pid);
      expect(status[name].restarts, `${name} restarts`).toBe(0);
    }
    // The stages that had work said what they waited on (at least the busy middle of the pipeline).
    expect([...waiting].length, `services reporting "waiting on kafka": ${[...waiting].join(', ')}`).toBeGreaterThan(0);

    await waitUntilIdle(f.config, 240_000);
    expect(await scalar(ch, `SELECT count() FROM ${f.db}.seeds FINAL`)).toBe(SEEDS);
    expect(await scalar(ch, `SELECT count(DISTINCT seed_id) FROM ${f.db}.concepts FINAL`)).toBe(SEEDS);
    expect(await scalar(ch, `SELECT count() FROM ${f.db}.pairs FINAL`)).toBeGreaterThan(0);
    await expectAccountedFor(ch, f);
  });
});
