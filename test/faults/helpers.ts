/**
 * Helpers of the fault-injection suite (issue 10, item 3): a fake model that can be made
 * non-reproducible and slow, service instances started by hand (so a test can run two of a stage
 * with separate state folders and SIGKILL one), the wait for an idle pipeline, and the invariant
 * queries every scenario ends with. The suite resets the pipeline's topics, groups and database, so
 * it runs on a stack the tests started (CI) or with GRIP_E2E_RESET=1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, expect, inject, vi } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { shortHash } from '../../core/util/hash.ts';
import { loadConfig, REPO_ROOT, servicePortVar, type GripConfig } from '../../services/runtime/config.ts';
import type { Candidate, Combination, SeedConcepts } from '../../schemas/generated/types.ts';
import { connectSerde, platformaticTransport, readLog } from '../../services/runtime/kafka/index.ts';
import { serviceSettings } from '../../services/runtime/service.ts';
import { consumerGroupsOf, SERVICE_NAMES } from '../../services/stages.ts';
import { answerGripPrompt } from '../fixtures/grip-answers.ts';
import { startFakeOpenAI, type FakeOpenAI, type ScriptedReply } from '../fixtures/openai-server.ts';
import { checkInvariants, describeViolations, missingDeadLetters, readDeadLetterRecords } from '../invariants/invariants.ts';
import { clickhouse, GRIP, grip, pipelineLag, resetPipeline, scalar, servicesEnv, waitFor } from '../e2e/pipeline-helpers.ts';
import { accountCombinations, budgetViolation, type CombinationAccount } from './budget.ts';

export { grip, rows, scalar, waitFor } from '../e2e/pipeline-helpers.ts';

/** Service ports of the suite start here (GRIP_FAULTS_PORT_BASE moves them, e.g. beside another stack's tests). */
export const PORT_BASE = Number(process.env.GRIP_FAULTS_PORT_BASE ?? 19600);

/** Seeds shipped with the repository (MATH train sample), so the suite needs nothing outside it. */
export const SEEDS_SAMPLE = path.join(REPO_ROOT, 'data', 'seeds', 'math-train-sample.jsonl.gz');

/** Refuses to run on a stack the tests did not start, unless GRIP_E2E_RESET=1 (the suite resets it). */
export function assertOwnedStack(): void {
  const owned = inject('stackStartedHere').length > 0 || process.env.GRIP_E2E_RESET === '1';
  if (!owned) throw new Error('the fault suite resets the pipeline topics, groups and database: run it on a stack the tests started, or set GRIP_E2E_RESET=1');
}

export interface FakeModelOptions {
  /** Answers vary from call to call (as a batched vLLM's do): a random salt in problems and KC picks. */
  nonReproducible?: boolean;
  /** Latency of each chat completion, by prompt (the response_format schema name); default 0. */
  latencyMs?: (prompt: string) => number;
  /** The first request of this prompt takes `ms` (a slot stuck on a long generation). */
  stall?: { prompt: string; ms: number };
  /** Share of chat completions answered 500 or 502 (a flaky endpoint), repeatable by `seed`. */
  errorRate?: number;
}

export interface FakeModel extends FakeOpenAI {
  /** When the stalled request arrived (0: not yet). */
  stalledSince(): number;
}

const VARIANT_KCS = ['distance formula', 'pythagorean theorem', 'circle equation', 'quadratic formula', 'vieta formulas', 'discriminant', 'completing the square', 'slope of a line', 'law of cosines', 'arithmetic series'];

/** The deterministic GRIP fake model, or its non-reproducible variant, on a local OpenAI-compatible server. */
export async function startFakeModel(options: FakeModelOptions = {}): Promise<FakeModel> {
  let stalledAt = 0;
  const reply = (body: any): ScriptedReply => {
    const answer = answerGripPrompt(body);
    if (!options.nonReproducible) return answer;
    const salt = Math.floor(Math.random() * 1e9);
    const prompt = body.response_format?.json_schema?.name as string;
    const parsed = JSON.parse(answer.content!);
    if (prompt === 'problem_synthesis') parsed.problem = `${parsed.problem} (variant ${salt})`;
    if (prompt === 'kc_extraction') {
      const h = parseInt(shortHash(body.messages.at(-1).content, 8), 16);
      parsed.kcs = [0, 1, 3].map((k) => VARIANT_KCS[(h + salt + k) % VARIANT_KCS.length]);
    }
    return { content: JSON.stringify(parsed) };
  };
  const latency = (body: any): number => {
    const prompt = body.response_format?.json_schema?.name ?? '';
    if (options.stall && prompt === options.stall.prompt && stalledAt === 0) {
      stalledAt = Date.now();
      return options.stall.ms;
    }
    return options.latencyMs?.(prompt) ?? 0;
  };
  const server = await startFakeOpenAI({ reply, latencyMs: latency, errorRate: options.errorRate, seed: 7 });
  return Object.assign(server, { stalledSince: () => stalledAt });
}

const JUDGE_PROMPTS = new Set(['problem_judgement', 'solution_judgement', 'answer_check']);

/**
 * Latency of a model that is slow for the stages under test (`fromMs` plus up to `spreadMs`, at
 * random, so batches finish out of order) and fast for the judge, which those scenarios do not test.
 */
export function slowExceptJudge(fromMs: number, spreadMs: number): (prompt: string) => number {
  return (prompt) => (JUDGE_PROMPTS.has(prompt) ? 20 : fromMs + Math.floor(Math.random() * spreadMs));
}

/** The settings of the scale-out scenarios: 4 combinations per seed, up to `combinations`. */
export function scaleOutSettings(combinations: number): string[] {
  return ['seed: 11', 'concurrency: 4', 'services:', '  combinations_per_seed: 4', `  max_combinations: ${combinations}`, 'judging:', '  threshold: 0.5'];
}

export interface FaultEnv {
  work: string;
  env: NodeJS.ProcessEnv;
  config: GripConfig;
  db: string;
}

/** A temp folder, a settings file and the environment of the services `grip services up` starts. */
export function faultEnv(name: string, model: FakeOpenAI, settings: string[]): FaultEnv {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `grip-faults-${name}-`));
  const settingsFile = path.join(work, 'grip.yaml');
  fs.writeFileSync(settingsFile, [...settings, ''].join('\n'));
  const env = servicesEnv(path.join(work, 'state'), PORT_BASE, { GRIP_LLM_BASE_URL: model.baseUrl, GRIP_EMBEDDINGS_BASE_URL: model.baseUrl, GRIP_CONFIG: settingsFile });
  const config = loadConfig(env);
  return { work, env, config, db: config.clickhouse.database };
}

/** `n` MATH seeds (from line `from`) as a JSONL file. */
export function seedsFile(dir: string, n: number, from = 0): string {
  const file = path.join(dir, `seeds-${from}-${n}.jsonl`);
  fs.writeFileSync(file, zlib.gunzipSync(fs.readFileSync(SEEDS_SAMPLE)).toString('utf8').split('\n').slice(from, from + n).join('\n') + '\n');
  return file;
}

export function up(f: FaultEnv, services: string[]): void {
  const out = grip(['services', 'up', '--only', services.join(',')], f.env, 300_000);
  expect(out.status, out.stderr + out.stdout).toBe(0);
}

/** One more instance of a stage, outside `grip services` (no supervisor): its own state folder and port. */
export interface Instance {
  name: string;
  stateDir: string;
  child: ChildProcess;
  exited: Promise<void>;
  log: () => string;
}

export function startInstance(f: FaultEnv, stage: string, label: string, port: number, extraEnv: NodeJS.ProcessEnv = {}): Instance {
  const stateDir = path.join(f.work, `state-${label}`);
  fs.mkdirSync(stateDir, { recursive: true });
  const logFile = path.join(f.work, `${label}.log`);
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [GRIP, 'services', 'run', stage], {
    env: { ...f.env, GRIP_STATE_DIR: stateDir, [servicePortVar(stage)]: String(port), ...extraEnv },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { name: stage, stateDir, child, exited, log: () => fs.readFileSync(logFile, 'utf8') };
}

export async function stopInstance(instance: Instance, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (instance.child.exitCode === null && instance.child.signalCode === null) instance.child.kill(signal);
  await instance.exited;
}

export async function healthy(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
  } catch {
    return false;
  }
}

/**
 * Every consumer group of `services` (default: all) consumed everything, twice in a row a few
 * seconds apart, within `timeoutMs`: the proof of "no stall".
 */
export async function waitUntilIdle(config: GripConfig, timeoutMs: number, services: readonly string[] = SERVICE_NAMES): Promise<void> {
  const groups = new Set(services.flatMap((s) => consumerGroupsOf(s).map((g) => g.groupId)));
  let quietSince = 0;
  let last: Record<string, number> = {};
  await waitFor(
    'every stage to consume its input (lag 0)',
    async () => {
      last = Object.fromEntries(Object.entries(await pipelineLag(config)).filter(([group, n]) => groups.has(group) && n > 0));
      if (Object.keys(last).length > 0) quietSince = 0;
      else quietSince ||= Date.now();
      return quietSince > 0 && Date.now() - quietSince > 4000;
    },
    timeoutMs,
    1000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; lag: ${JSON.stringify(last)}`);
  });
}

/** Records in a topic now (sum of its partitions' end offsets; nothing is deleted in these tests). */
export async function topicRecords(config: GripConfig, topic: string): Promise<number> {
  const admin = platformaticTransport(config.kafka).admin();
  try {
    return (await admin.endOffsets([topic])).reduce((sum, p) => sum + Number(p.offset), 0);
  } finally {
    await admin.close();
  }
}

/**
 * Every record of grip.candidates (redeliveries included) by combination, and the combinations made
 * more than once with different problem texts (other answers of a non-reproducible model).
 */
export async function candidatesByCombo(f: FaultEnv, readerName: string): Promise<{ records: number; byCombo: Map<string, Candidate[]>; remade: Candidate[][] }> {
  const produced: Candidate[] = [];
  const serde = await connectSerde({ url: f.config.registry.url });
  await (await readLog<Candidate>({ transport: platformaticTransport(f.config.kafka), serde, topic: 'grip.candidates', name: readerName, onValue: (c) => void produced.push(c) })).done;
  const byCombo = new Map<string, Candidate[]>();
  for (const c of produced) byCombo.set(c.combo_id, [...(byCombo.get(c.combo_id) ?? []), c]);
  const remade = [...byCombo.values()].filter((cs) => new Set(cs.map((c) => c.problem)).size > 1);
  return { records: produced.length, byCombo, remade };
}

/**
 * Candidates already in grip.candidates whose grip.pairs record problem-synth's group has not
 * committed yet: the work a crash now makes be done again (redone by whoever takes the partition).
 */
export async function producedUncommitted(f: FaultEnv): Promise<number> {
  const transport = platformaticTransport(f.config.kafka);
  const serde = await connectSerde({ url: f.config.registry.url });
  const pairAt = new Map<string, { partition: number; offset: bigint }>();
  await (await readLog<Combination>({ transport, serde, topic: 'grip.pairs', name: 'faults-pairs', onValue: (c, r) => void pairAt.set(c.combo_id, { partition: r.partition, offset: r.offset }) })).done;
  const { byCombo } = await candidatesByCombo(f, 'faults-produced');
  const admin = transport.admin();
  try {
    const [group] = consumerGroupsOf('problem-synth');
    const committed = new Map((await admin.groupOffsets(group!.groupId, ['grip.pairs'])).map((o) => [o.partition, o.offset]));
    return [...byCombo.keys()].filter((id) => {
      const at = pairAt.get(id);
      return at !== undefined && at.offset >= (committed.get(at.partition) ?? 0n);
    }).length;
  } finally {
    await admin.close();
  }
}

/** Every invariant of test/invariants/invariants.sql holds, and every DLQ record is in dead_letters. */
export async function expectInvariants(ch: ClickHouseClient, f: FaultEnv): Promise<void> {
  const violations = await checkInvariants(ch, f.db);
  const serde = await connectSerde({ url: f.config.registry.url });
  violations.push(...(await missingDeadLetters(ch, f.db, await readDeadLetterRecords(platformaticTransport(f.config.kafka), serde))));
  expect(violations, describeViolations(violations)).toEqual([]);
}

/**
 * concept-graph emitted the combinations its seeds earned, by the settings the services ran with
 * (GRIP_CONFIG): grip.concepts and grip.pairs are read whole and checked by budget.ts. Where the
 * graph of every seed can supply the budget (seeds with KCs x combinations_per_seed, capped by
 * max_combinations), grip.pairs holds exactly that many distinct combinations; where it cannot, at
 * least as many as the stage's sampler finds in that graph, and never more than the budget. Call it
 * once every group is at lag 0 (concept-graph samples before it commits).
 */
export async function expectCombinationBudget(f: FaultEnv): Promise<CombinationAccount> {
  const transport = platformaticTransport(f.config.kafka);
  const serde = await connectSerde({ url: f.config.registry.url });
  const concepts: SeedConcepts[] = [];
  const pairs: Combination[] = [];
  await (await readLog<SeedConcepts>({ transport, serde, topic: 'grip.concepts', name: 'faults-budget-concepts', onValue: (c) => void concepts.push(c) })).done;
  await (await readLog<Combination>({ transport, serde, topic: 'grip.pairs', name: 'faults-budget-pairs', onValue: (c) => void pairs.push(c) })).done;
  const account = accountCombinations(serviceSettings(f.config), concepts, pairs);
  console.info(`combinations: ${JSON.stringify(account)}`);
  expect(budgetViolation(account)).toBeNull();
  return account;
}

/**
 * The end of a pipeline scenario: every combination has a candidate or a dead letter, every
 * candidate a verdict or a dead letter, concept-graph emitted the combinations its seeds earned
 * (expectCombinationBudget), and every invariant holds.
 */
export async function expectAccountedFor(ch: ClickHouseClient, f: FaultEnv): Promise<void> {
  await expectCombinationBudget(f);
  expect(
    await scalar(ch, `SELECT count() FROM ${f.db}.pairs FINAL WHERE combo_id NOT IN (SELECT combo_id FROM ${f.db}.candidates) AND combo_id NOT IN (SELECT message_key FROM ${f.db}.dead_letters WHERE source_topic = 'grip.pairs')`),
  ).toBe(0);
  expect(
    await scalar(ch, `SELECT count() FROM ${f.db}.candidates FINAL WHERE candidate_id NOT IN (SELECT candidate_id FROM ${f.db}.verdicts) AND candidate_id NOT IN (SELECT message_key FROM ${f.db}.dead_letters WHERE source_topic = 'grip.candidates')`),
  ).toBe(0);
  await expectInvariants(ch, f);
}

/** What a scenario works with, set by `faultScenario`'s beforeAll. */
export interface Scenario {
  model: FakeModel;
  f: FaultEnv;
  ch: ClickHouseClient;
  /** Instances the test started by hand: stopped after it. */
  instances: Instance[];
}

/**
 * Registers a scenario's set-up (the owned-stack check, the fake model, its environment and
 * settings, a reset pipeline, a ClickHouse client) and its clean-up (hand-started instances,
 * `grip services down`, the model). Call it at the top of a test file.
 */
export function faultScenario(name: string, settings: string[], modelOptions: FakeModelOptions = {}): Scenario {
  // A scenario waits on whole pipelines (services up, kills, restarts, drains): minutes, not seconds.
  vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });
  const s = { instances: [] as Instance[] } as Scenario;
  beforeAll(async () => {
    assertOwnedStack();
    s.model = await startFakeModel(modelOptions);
    s.f = faultEnv(name, s.model, settings);
    await resetPipeline(s.f.config);
    s.ch = clickhouse(s.f.config);
  });
  afterAll(async () => {
    for (const i of s.instances) await stopInstance(i);
    if (s.f) grip(['services', 'down'], s.f.env, 120_000);
    await s.ch?.close();
    await s.model?.close();
  });
  return s;
}
