/**
 * Fault: the scenario of issue 10, as a user scaling out runs it. Two instances of
 * concept-extractor and two of problem-synth, each with its own state folder and port, a model
 * whose answers vary from call to call (problem texts and KC picks salted at random) and that is
 * slow (100-1000 ms a call), so several batches are in flight. One instance of each is SIGKILLed
 * mid-batch and nobody restarts it: the other takes its partitions over. problem-synth A is killed
 * while candidates are being produced, with one of its model calls stuck: the batch holding it
 * keeps the partition's commit back while A's later batches produce their candidates, so B makes
 * those combinations again, with other answers. Then, within a bound (no stall): every group at
 * lag 0, every seed with exactly one concepts row, KC ids that agree between the instances, one
 * candidate per combination (ids come from inputs, never from answers), every combination with a
 * candidate or a dead letter, and every invariant.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileLlmCache } from '../../services/runtime/file-llm-cache.ts';
import {
  candidatesByCombo, expectInvariants, faultScenario, producedUncommitted, grip, healthy, PORT_BASE, rows, scaleOutSettings, scalar, seedsFile, slowExceptJudge, startFakeModel, startInstance, topicRecords, up, waitFor, waitUntilIdle, type FakeModel, type Instance,
} from './helpers.ts';

const SEEDS = 16;
const COMBINATIONS = 48;
// 100-1000 ms a call: batches finish out of order.
const latencyMs = slowExceptJudge(100, 900);
const s = faultScenario('scale-out', scaleOutSettings(COMBINATIONS), { nonReproducible: true, latencyMs });
let modelOfSynthA: FakeModel;

const cachedAnswers = (i: Instance) => FileLlmCache.entriesIn(path.join(i.stateDir, i.name, 'llm-cache.jsonl'));

beforeAll(async () => {
  // problem-synth A's endpoint: the same model, whose first synthesis call hangs until A is killed.
  modelOfSynthA = await startFakeModel({ nonReproducible: true, latencyMs, stall: { prompt: 'problem_synthesis', ms: 90_000 } });
});
afterAll(async () => {
  await modelOfSynthA?.close();
});

describe('two instances of concept-extractor and of problem-synth, one of each SIGKILLed mid-batch, answers varying per call', () => {
  it('ends with no duplicate, no stall, every seed and combination accounted for', async () => {
    const { f, ch, instances } = s;
    up(f, ['seed-ingest', 'concept-graph', 'judge', 'clickhouse-sink']);
    const [extractorA, extractorB, synthA, synthB] = [
      startInstance(f, 'concept-extractor', 'extractor-a', PORT_BASE + 11),
      startInstance(f, 'concept-extractor', 'extractor-b', PORT_BASE + 12),
      startInstance(f, 'problem-synth', 'synth-a', PORT_BASE + 13, { GRIP_LLM_BASE_URL: modelOfSynthA.baseUrl }),
      startInstance(f, 'problem-synth', 'synth-b', PORT_BASE + 14),
    ] as [Instance, Instance, Instance, Instance];
    instances.push(extractorA, extractorB, synthA, synthB);
    for (const port of [11, 12, 13, 14]) await waitFor(`instance on ${PORT_BASE + port} healthy`, () => healthy(PORT_BASE + port), 120_000, 500);

    expect(grip(['seed', 'add', seedsFile(f.work, SEEDS)], f.env).status).toBe(0);
    // Mid-batch: some answers in, its partitions not drained.
    await waitFor('concept-extractor A to answer a few seeds', async () => cachedAnswers(extractorA) >= 6, 120_000, 50);
    extractorA.child.kill('SIGKILL');
    await extractorA.exited;
    // Candidates produced by A behind its stuck call: in the topic, their combinations not
    // committed (the stuck batch holds the partition back), so B will make them again.
    await waitFor(
      'problem-synth A to produce candidates behind its stuck call',
      async () => modelOfSynthA.stalledSince() > 0 && cachedAnswers(synthA) >= 24 && (await producedUncommitted(f)) >= 3,
      180_000,
      200,
    );
    synthA.child.kill('SIGKILL');
    await synthA.exited;

    await waitUntilIdle(f.config, 180_000);
    expect(cachedAnswers(extractorB)).toBeGreaterThan(0);
    expect(cachedAnswers(synthB)).toBeGreaterThan(0);

    // Every seed: exactly one concepts row (one concepts_id).
    const perSeed = await rows<{ seed_id: string; n: string }>(ch, `SELECT seed_id, uniqExact(concepts_id) AS n FROM ${f.db}.concepts GROUP BY seed_id`);
    expect(perSeed).toHaveLength(SEEDS);
    expect(perSeed.filter((r) => Number(r.n) !== 1)).toEqual([]);
    // KC ids agree between the instances: one id per KC name, one name per id.
    expect(await rows(ch, `SELECT name, groupUniqArray(id) AS ids FROM ${f.db}.concepts ARRAY JOIN kc_names AS name, kc_ids AS id GROUP BY name HAVING uniqExact(id) > 1`)).toEqual([]);
    expect(await rows(ch, `SELECT id, groupUniqArray(name) AS names FROM ${f.db}.concepts ARRAY JOIN kc_names AS name, kc_ids AS id GROUP BY id HAVING uniqExact(name) > 1`)).toEqual([]);

    // The kill hit candidates in flight: some combination was made by A and again by B, with
    // another problem text (the model is not reproducible), under one candidate id.
    const { records, byCombo, remade } = await candidatesByCombo(f, 'faults-scale-out');
    console.info(`scale-out: ${records} candidate records for ${byCombo.size} combinations, ${remade.length} made again with other answers`);
    // The kill must have made work be done again (otherwise this run proves nothing). Usually B
    // remakes some of A's produced but uncommitted candidates with other answers (`remade`); when the
    // timing only makes an instance redo its own (identical) work, the ids are still checked below.
    expect(records, 'the SIGKILL hit no produced, uncommitted candidate: nothing was made twice').toBeGreaterThan(byCombo.size);
    for (const cs of byCombo.values()) expect(new Set(cs.map((c) => c.candidate_id)).size, cs[0]!.combo_id).toBe(1);

    // Every combination: exactly one candidate, or a dead letter.
    const pairs = await scalar(ch, `SELECT count() FROM ${f.db}.pairs FINAL`);
    expect(pairs).toBeGreaterThan(4);
    expect(await rows(ch, `SELECT combo_id, uniqExact(candidate_id) AS n FROM ${f.db}.candidates GROUP BY combo_id HAVING n > 1`)).toEqual([]);
    expect(
      await scalar(ch, `SELECT count() FROM ${f.db}.pairs FINAL WHERE combo_id NOT IN (SELECT combo_id FROM ${f.db}.candidates) AND combo_id NOT IN (SELECT message_key FROM ${f.db}.dead_letters WHERE source_topic = 'grip.pairs')`),
    ).toBe(0);
    await expectInvariants(ch, f);
  });
});
