/**
 * `grip run` and the Kafka services run the same stage declarations (services/stages.ts), so on the
 * same seeds, settings and a deterministic model they must give the same accepted set. This test
 * runs both: `grip run` in process, then the services as a user starts them (`grip seed add`,
 * `grip services up`) on the real broker, registry and ClickHouse, each stage started once the one
 * before it has drained its input (the graph then samples from every seed, as `grip run` does).
 * It compares the accepted verdict ids, which hash the whole chain (seed, concepts, combination,
 * candidate, judge configuration): equal ids mean equal work. It resets the pipeline's topics,
 * groups and database first, as the e2e test does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runPipeline } from '../../cli/run/pipeline.ts';
import { createProgress } from '../../cli/run/progress.ts';
import type { Verdict } from '../../schemas/generated/types.ts';
import { loadConfig, REPO_ROOT, type GripConfig } from '../../services/runtime/config.ts';
import { connectSerde, platformaticTransport, readLog } from '../../services/runtime/kafka/index.ts';
import { readRunFile, resolveRunSettings } from '../../services/runtime/settings.ts';
import { LLM_STEPS } from '../../services/stages.ts';
import { answerGripPrompt } from '../fixtures/grip-answers.ts';
import { startFakeOpenAI, type FakeOpenAI } from '../fixtures/openai-server.ts';
import { grip, pipelineLag, resetPipeline, servicesEnv, waitFor } from './pipeline-helpers.ts';

const MATH_TRAIN = path.join(REPO_ROOT, '..', 'shared', 'data', 'math', 'train.jsonl');
const SEEDS = 8;
const COMBINATIONS = 10;
const PORT_BASE = 19500;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-agree-'));
const seedsFile = path.join(work, 'seeds.jsonl');
const settingsFile = path.join(work, 'grip.yaml');
let server: FakeOpenAI;
let env: NodeJS.ProcessEnv;
let config: GripConfig;

beforeAll(async () => {
  const owned = inject('stackStartedHere').length > 0 || process.env.GRIP_E2E_RESET === '1';
  if (!owned) throw new Error('this test resets the pipeline topics and database: run it on a stack the tests started, or set GRIP_E2E_RESET=1');
  server = await startFakeOpenAI({ reply: (body) => answerGripPrompt(body) });
  fs.writeFileSync(seedsFile, fs.readFileSync(MATH_TRAIN, 'utf8').split('\n').slice(0, SEEDS).join('\n') + '\n');
  // `combinations` is grip run's total; the services' graph gets the same budget, sampled once drained.
  fs.writeFileSync(
    settingsFile,
    ['seed: 5', 'concurrency: 3', `combinations: ${COMBINATIONS}`, 'services:', `  combinations_per_seed: ${COMBINATIONS}`, `  max_combinations: ${COMBINATIONS}`, '  sample_every_seeds: 0', '  sample_every_seconds: 0', ''].join('\n'),
  );
  env = servicesEnv(path.join(work, 'state'), PORT_BASE, { GRIP_LLM_BASE_URL: server.baseUrl, GRIP_EMBEDDINGS_BASE_URL: server.baseUrl, GRIP_CONFIG: settingsFile });
  config = loadConfig(env);
  await resetPipeline(config);
});

afterAll(async () => {
  if (env) grip(['services', 'down'], env, 120_000);
  await server?.close();
});

/** Waits until a stage's consumer group has consumed everything in its input. */
async function drained(stage: string): Promise<void> {
  await waitFor(`${stage} to drain its input`, async () => (await pipelineLag(config))[`grip.${stage}`] === 0, 180_000, 500);
}

async function acceptedIds(verdicts: Verdict[]): Promise<string[]> {
  return verdicts.filter((v) => v.accepted).map((v) => v.verdict_id).sort();
}

describe('grip run and the Kafka services agree', () => {
  it('give the same accepted verdicts on the same seeds with a deterministic model', async () => {
    const settings = resolveRunSettings(readRunFile(settingsFile), {}, config, LLM_STEPS);
    const out = path.join(work, 'run');
    const report = await runPipeline({ seedsFile, outDir: out, fields: { problem: 'problem', solution: 'solution' }, settings, progress: createProgress('quiet') });
    const inProcess = fs.readFileSync(path.join(out, '.grip', 'verdicts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Verdict);
    expect(report.accepted).toBeGreaterThan(0);

    expect(grip(['seed', 'add', seedsFile], env).status).toBe(0);
    for (const stage of ['concept-extractor', 'concept-graph', 'problem-synth', 'judge']) {
      const up = grip(['services', 'up', '--only', stage], env);
      expect(up.status, up.stderr).toBe(0);
      await drained(stage);
    }
    const transport = platformaticTransport(config.kafka);
    const serde = await connectSerde({ url: config.registry.url });
    const onKafka: Verdict[] = [];
    const reader = await readLog<Verdict>({ transport, serde, topic: 'grip.verdicts', name: 'runners-agree', onValue: (v) => void onKafka.push(v) });
    await reader.done;

    expect(onKafka.length).toBe(inProcess.length);
    expect(await acceptedIds(onKafka)).toEqual(await acceptedIds(inProcess));
    expect(onKafka.map((v) => v.verdict_id).sort()).toEqual(inProcess.map((v) => v.verdict_id).sort());
  }, 900_000);
});
