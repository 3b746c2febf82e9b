/**
 * Fault: SIGKILL of each pipeline service in turn while work is in flight, under the supervisor of
 * `grip services up` (which starts a dead service again with its settings). The model is slow
 * (50-400 ms a call) and its answers vary per call, so a restarted stage that redoes work gets other
 * answers. Each service is killed once something has reached it; at the end every group is at lag
 * 0 within a bound, every seed has concepts, every combination a candidate and every candidate a
 * verdict (or a dead letter), and every invariant holds.
 */
import { describe, expect, it } from 'vitest';
import { isAlive, readRecord } from '../../cli/ops/manager.ts';
import { expectAccountedFor, faultScenario, grip, scalar, seedsFile, topicRecords, up, waitFor, waitUntilIdle } from './helpers.ts';

const SEEDS = 12;
const PIPELINE = ['seed-ingest', 'concept-extractor', 'concept-graph', 'problem-synth', 'judge', 'clickhouse-sink'];
const s = faultScenario(
  'kill-each',
  ['seed: 9', 'concurrency: 3', 'services:', '  combinations_per_seed: 2', '  max_combinations: 20', 'judging:', '  threshold: 0.5'],
  { nonReproducible: true, latencyMs: () => 50 + Math.floor(Math.random() * 350) },
);

/** SIGKILLs a service and waits until the supervisor has started it again and it is healthy. */
async function killAndWaitRestart(name: string): Promise<void> {
  const { f } = s;
  const record = readRecord(f.config, name)!;
  process.kill(record.pid, 'SIGKILL');
  await waitFor(`${name} to die`, async () => !isAlive(record.pid), 10_000, 100);
  await waitFor(`the supervisor to start ${name} again`, async () => {
    const s = JSON.parse(grip(['services', 'status', '--json'], f.env).stdout)[name];
    return s.running && s.healthy && s.pid !== record.pid && s.restarts >= 1;
  }, 60_000, 500);
}

describe('SIGKILL of each pipeline service in turn, restarted by the supervisor', () => {
  it('ends with every seed, combination and candidate accounted for, and every invariant', async () => {
    const { f, ch } = s;
    up(f, PIPELINE);
    expect(grip(['seed', 'add', seedsFile(f.work, SEEDS)], f.env).status).toBe(0);
    // Each is killed once its input has started to arrive (work in flight or just done).
    const arrived: Record<string, () => Promise<boolean>> = {
      'seed-ingest': async () => true,
      'concept-extractor': async () => (await topicRecords(f.config, 'grip.seeds')) > 0,
      'concept-graph': async () => (await topicRecords(f.config, 'grip.concepts')) >= 2,
      'problem-synth': async () => (await topicRecords(f.config, 'grip.pairs')) >= 2,
      judge: async () => (await topicRecords(f.config, 'grip.candidates')) >= 2,
      'clickhouse-sink': async () => (await topicRecords(f.config, 'grip.verdicts')) >= 1,
    };
    for (const name of PIPELINE) {
      await waitFor(`input of ${name}`, arrived[name]!, 180_000, 100);
      await killAndWaitRestart(name);
    }
    await waitUntilIdle(f.config, 240_000);

    expect(await scalar(ch, `SELECT count() FROM ${f.db}.seeds FINAL`)).toBe(SEEDS);
    expect(await scalar(ch, `SELECT count() FROM ${f.db}.pairs FINAL`)).toBeGreaterThan(0);
    await expectAccountedFor(ch, f);
  });
});
