/**
 * Fault: the scenario of issue 10, as a user scaling out runs it. Two instances of
 * concept-extractor and two of problem-synth, each with its own state folder and port, a model
 * whose answers vary from call to call (problem texts and KC picks salted per call) and that is
 * slow (100-1000 ms a call), so several batches are in flight; one instance of each is SIGKILLed
 * mid-batch (problem-synth while candidates are being produced) and nobody restarts it: the other
 * takes its partitions over. Then, within a bound (no stall): every group at lag 0, every seed
 * with exactly one concepts row, KC ids that agree between the instances, one candidate per
 * combination (ids come from inputs, never from answers), every combination with a candidate or a
 * dead letter, and every invariant.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { FileLlmCache } from '../../services/runtime/file-llm-cache.ts';
import type { FakeOpenAI } from '../fixtures/openai-server.ts';
import {
  assertOwnedStack, clickhouse, expectInvariants, faultEnv, grip, healthy, PORT_BASE, resetPipeline, rows, scalar, seedsFile, startFakeModel, startInstance, stopInstance, topicRecords, up, waitFor, waitUntilIdle,
  type FaultEnv, type Instance,
} from './helpers.ts';

const SEEDS = 16;
const COMBINATIONS = 48;
const JUDGE_PROMPTS = new Set(['problem_judgement', 'solution_judgement', 'answer_check']);
let model: FakeOpenAI;
let f: FaultEnv;
let ch: ClickHouseClient;
const instances: Instance[] = [];

const cachedAnswers = (i: Instance) => FileLlmCache.entriesIn(path.join(i.stateDir, i.name, 'llm-cache.jsonl'));

beforeAll(async () => {
  assertOwnedStack();
  // 100-1000 ms a call: the batches of one partition finish out of order, so outputs of a later batch
  // are produced while an earlier one holds the commit back (the window a crash hits). The judge
  // is fast: it is not under test here.
  model = await startFakeModel({ nonReproducible: true, latencyMs: (prompt) => (JUDGE_PROMPTS.has(prompt) ? 20 : 100 + Math.floor(Math.random() * 900)) });
  f = faultEnv('scale-out', model, ['seed: 11', 'concurrency: 4', 'services:', '  combinations_per_seed: 4', `  max_combinations: ${COMBINATIONS}`, 'judging:', '  threshold: 0.5']);
  await resetPipeline(f.config);
  ch = clickhouse(f.config);
});

afterAll(async () => {
  for (const i of instances) await stopInstance(i);
  if (f) grip(['services', 'down'], f.env, 120_000);
  await ch?.close();
  await model?.close();
});

describe('two instances of concept-extractor and of problem-synth, one of each SIGKILLed mid-batch, answers varying per call', () => {
  it('ends with no duplicate, no stall, every seed and combination accounted for', async () => {
    up(f, ['seed-ingest', 'concept-graph', 'judge', 'clickhouse-sink']);
    const [extractorA, extractorB, synthA, synthB] = [
      startInstance(f, 'concept-extractor', 'extractor-a', PORT_BASE + 11),
      startInstance(f, 'concept-extractor', 'extractor-b', PORT_BASE + 12),
      startInstance(f, 'problem-synth', 'synth-a', PORT_BASE + 13),
      startInstance(f, 'problem-synth', 'synth-b', PORT_BASE + 14),
    ] as [Instance, Instance, Instance, Instance];
    instances.push(extractorA, extractorB, synthA, synthB);
    for (const port of [11, 12, 13, 14]) await waitFor(`instance on ${PORT_BASE + port} healthy`, () => healthy(PORT_BASE + port), 120_000, 500);

    expect(grip(['seed', 'add', seedsFile(f.work, SEEDS)], f.env).status).toBe(0);
    // Mid-batch: some answers in, its partitions not drained.
    await waitFor('concept-extractor A to answer a few seeds', async () => cachedAnswers(extractorA) >= 6, 120_000, 50);
    extractorA.child.kill('SIGKILL');
    await extractorA.exited;
    // Candidates being produced: A has answered whole combinations and has more in flight.
    await waitFor('problem-synth A to produce candidates', async () => cachedAnswers(synthA) >= 16 && (await topicRecords(f.config, 'grip.candidates')) >= 4, 180_000, 50);
    synthA.child.kill('SIGKILL');
    await synthA.exited;

    await waitUntilIdle(f.config, 180_000);
    expect(cachedAnswers(extractorB)).toBeGreaterThan(0);
    expect(cachedAnswers(synthB)).toBeGreaterThan(0);
    // The kill hit work in flight: candidates A produced but had not committed were made again by B
    // (with other answers), so grip.candidates holds more records than combinations.
    const candidateRecords = await topicRecords(f.config, 'grip.candidates');
    console.info(`scale-out: ${candidateRecords} candidate records, ${await topicRecords(f.config, 'grip.concepts')} concepts records for ${SEEDS} seeds`);

    // Every seed: exactly one concepts row (one concepts_id).
    const perSeed = await rows<{ seed_id: string; n: string }>(ch, `SELECT seed_id, uniqExact(concepts_id) AS n FROM ${f.db}.concepts GROUP BY seed_id`);
    expect(perSeed).toHaveLength(SEEDS);
    expect(perSeed.filter((r) => Number(r.n) !== 1)).toEqual([]);
    // KC ids agree between the instances: one id per KC name, one name per id.
    expect(await rows(ch, `SELECT name, groupUniqArray(id) AS ids FROM ${f.db}.concepts ARRAY JOIN kc_names AS name, kc_ids AS id GROUP BY name HAVING uniqExact(id) > 1`)).toEqual([]);
    expect(await rows(ch, `SELECT id, groupUniqArray(name) AS names FROM ${f.db}.concepts ARRAY JOIN kc_names AS name, kc_ids AS id GROUP BY id HAVING uniqExact(name) > 1`)).toEqual([]);
    // Every combination: exactly one candidate, or a dead letter.
    const pairs = await scalar(ch, `SELECT count() FROM ${f.db}.pairs FINAL`);
    expect(pairs).toBeGreaterThan(4);
    expect(candidateRecords, 'the SIGKILL hit no candidate in flight: nothing was redelivered').toBeGreaterThan(pairs);
    expect(await rows(ch, `SELECT combo_id, uniqExact(candidate_id) AS n FROM ${f.db}.candidates GROUP BY combo_id HAVING n > 1`)).toEqual([]);
    expect(
      await scalar(ch, `SELECT count() FROM ${f.db}.pairs FINAL WHERE combo_id NOT IN (SELECT combo_id FROM ${f.db}.candidates) AND combo_id NOT IN (SELECT message_key FROM ${f.db}.dead_letters WHERE source_topic = 'grip.pairs')`),
    ).toBe(0);
    await expectInvariants(ch, f);
  });
});
