/**
 * `npm run bench:pipeline`: how much of a model endpoint's capacity the Kafka pipeline uses.
 *
 * In one run:
 *  1. starts an OpenAI-compatible endpoint of known shape (fixed latency, a cap of concurrent
 *     slots with a queue; test/fixtures/openai-server.ts in a child process) and measures its
 *     capacity by saturating it directly with the LLM client (2x slots in flight, after a warm-up):
 *     endpoint_capacity_rps;
 *  2. sends N grip.pairs messages through the real local Kafka (private topics named after the run)
 *     into the problem-synth handler under runStage, with an in-memory answer cache so that every
 *     model call is a real request, and measures the LLM requests completed per second from the
 *     first request to the last: achieved_rps. It checks that every message became a candidate.
 *  3. measures the capacity again (the machine may be shared: a change in its load shows as drift)
 *     and takes the higher of the two figures.
 * efficiency = achieved_rps / endpoint_capacity_rps (goal: >= 0.9). Writes bench/results/pipeline.json.
 * Needs the local stack (`npm run stack:up`); says so and exits 2 when it is not running.
 * Flags: see bench/pipeline/options.ts or `npm run bench:pipeline -- --help`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { problemSynthesis } from '../core/prompts/index.ts';
import type { Candidate, Combination } from '../schemas/generated/types.ts';
import { synthesizeProblem } from '../services/problem-synth/handler.ts';
import { loadConfig, REPO_ROOT, type GripConfig, type LlmEndpoint } from '../services/runtime/config.ts';
import { connectSerde, ensureTopics, platformaticTransport, runStage, type AdminPort, type KafkaTransport, type StageHandle } from '../services/runtime/kafka/index.ts';
import { LlmClient, MemoryLlmCache } from '../services/runtime/llm.ts';
import { spawnEndpoint, type BenchEndpoint } from './pipeline/endpoint.ts';
import { benchCombinations, benchTopics, checkStack, produceValues, readValues, removeBenchArtifacts } from './pipeline/kafka.ts';
import { cpuProbe, RequestMeter, round } from './pipeline/meter.ts';
import { OptionsError, parseOptions, usage, type PipelineBenchOptions } from './pipeline/options.ts';

const GOAL = 0.9;
/** Slot utilization of the capacity phase that shows the endpoint, not the client, was the limit. */
const SATURATED = 0.9;
const MODEL = 'bench-fake';
const log = (line: string) => process.stderr.write(`bench:pipeline: ${line}\n`);

function endpoints(baseUrl: string): Record<string, LlmEndpoint> {
  const e: LlmEndpoint = { baseUrl, model: MODEL, apiKey: 'none' };
  return { synthesize: e, difficulty: e, solve: e, solve_hard: e };
}

function machine() {
  return { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, total_mem_gb: round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.arch()}`, loadavg_1m: round(os.loadavg()[0]) };
}

/** Phase 1 (and 3): the endpoint saturated directly by the LLM client, after a warm-up that is not counted. */
async function measureCapacity(endpoint: BenchEndpoint, o: PipelineBenchOptions, tag: string) {
  const concurrency = Math.max(2 * o.slots, o.llmConcurrency);
  const fire = async (meter: RequestMeter, n: number, tag: string) => {
    const llm = new LlmClient({ endpoints: endpoints(endpoint.baseUrl), cache: new MemoryLlmCache(), concurrency, fetch: meter.wrap() });
    // distinct KC names: distinct prompts, so each call is a request
    await Promise.all(Array.from({ length: n }, (_, i) => llm.json('synthesize', problemSynthesis['2-hop'], { kcs: [`${tag} probe ${i}`, 'circle equation'] })));
  };
  const warmup = 4 * o.slots;
  await fire(new RequestMeter(), warmup, `${tag} warm-up`);
  const before = await endpoint.stats();
  const meter = new RequestMeter();
  const probe = cpuProbe();
  await fire(meter, o.capacityRequests, tag);
  const cpu = probe.stop();
  const after = await endpoint.stats();
  const f = meter.figures();
  return {
    ...f,
    bench_process: { ...cpu, cpu_ms_per_request: round((cpu.cpu_seconds * 1000) / Math.max(1, f.requests)) },
    warmup_requests: warmup,
    client_concurrency: concurrency,
    max_client_in_flight: meter.maxInFlight,
    endpoint_max_in_flight: after.maxInFlight,
    slot_utilization: utilization(after.busyMs - before.busyMs, o.slots, f.seconds),
  };
}

const utilization = (busyMs: number, slots: number, seconds: number) => (seconds > 0 ? round(busyMs / (slots * seconds * 1000), 3) : 0);

/** Resolves with the time at which the stage had handled `n` messages; rejects on a crash or the deadline. */
function untilHandled(handle: StageHandle, n: number, timeoutMs: number, interrupted: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + timeoutMs;
    const timer = setInterval(() => {
      const s = handle.stats();
      if (s.out + s.dlq + s.dropped >= n) {
        clearInterval(timer);
        resolve(performance.now());
      } else if (interrupted.aborted || performance.now() > deadline) {
        clearInterval(timer);
        reject(new Error(interrupted.aborted ? 'interrupted' : `the stage handled ${s.out + s.dlq + s.dropped} of ${n} messages in ${timeoutMs / 1000} s (see --timeout-s)`));
      }
    }, 5);
    handle.done.then(
      () => undefined,
      (error) => {
        clearInterval(timer);
        reject(new Error(`the stage crashed: ${(error as Error).message}`, { cause: error }));
      },
    );
  });
}

/** Phase 2: N messages through Kafka into problem-synth under runStage. */
async function measurePipeline(endpoint: BenchEndpoint, o: PipelineBenchOptions, ctx: { config: GripConfig; transport: KafkaTransport; admin: AdminPort; runId: string; interrupted: AbortSignal }) {
  const topics = benchTopics(ctx.runId, o.partitions);
  const groupId = `bench-${ctx.runId}-problem-synth`;
  const verifyGroup = `bench-${ctx.runId}-verify`;
  const cleanupProblems: string[] = [];
  const groups = [groupId]; // the verify group joins the list once it exists
  try {
    await ensureTopics(ctx.admin, [topics.pairs, topics.candidates]);
    const serde = await connectSerde({ url: ctx.config.registry.url, topics: [topics.pairs, topics.candidates] });
    const combos = benchCombinations(ctx.runId, o.messages, Date.now());
    log(`producing ${o.messages} messages to ${topics.pairs.topic} (${o.partitions} partitions) ...`);
    await produceValues(ctx.transport, serde, topics.pairs.topic, combos);

    const meter = new RequestMeter();
    const llm = new LlmClient({ endpoints: endpoints(endpoint.baseUrl), cache: new MemoryLlmCache(), concurrency: o.llmConcurrency, fetch: meter.wrap() });
    const before = await endpoint.stats();
    log(`running problem-synth under runStage (concurrency ${o.concurrency}, ${o.maxInFlightBatches} batches of <= ${o.maxBatchRecords}, LLM client concurrency ${o.llmConcurrency}) ...`);
    const probe = cpuProbe();
    const stageStart = performance.now();
    const handle = await runStage<Combination, Candidate>({
      name: 'problem-synth-bench',
      inputTopic: topics.pairs.topic,
      outputTopic: topics.candidates.topic,
      dlqTopic: topics.pairs.dlq,
      groupId,
      handler: (combo) => synthesizeProblem(combo, { llm, now: Date.now }),
      transport: ctx.transport,
      serde,
      concurrency: o.concurrency,
      maxInFlightBatches: o.maxInFlightBatches,
      maxBatchRecords: o.maxBatchRecords,
      handleSignals: false,
      lagIntervalMs: 0,
      log: (level, message, fields) => {
        if (level !== 'info') log(`${level}: ${message} ${JSON.stringify(fields ?? {}, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      },
    });
    let handledAt: number;
    try {
      handledAt = await untilHandled(handle, o.messages, o.timeoutS * 1000, ctx.interrupted);
    } finally {
      await handle.stop();
    }
    const cpu = probe.stop();
    const after = await endpoint.stats();
    const stats = handle.stats();
    const f = meter.figures();
    const usage = Object.values(llm.usageByStage());

    log(`reading ${stats.out} candidates back from ${topics.candidates.topic} ...`);
    groups.push(verifyGroup);
    const candidates = (await readValues(ctx.transport, serde, topics.candidates.topic, verifyGroup, stats.out, 60_000)) as Candidate[];
    const produced = new Set(candidates.map((c) => c.combo_id));
    const missing = combos.filter((c) => !produced.has(c.combo_id)).map((c) => c.combo_id);
    const incomplete = candidates.filter((c) => c.lineage.steps.length !== 3).length;

    const fromFirstRequest = (handledAt - meter.firstAt) / 1000;
    const fromStageStart = (handledAt - stageStart) / 1000;
    return {
      messages: o.messages,
      candidates: candidates.length,
      distinct_candidates: produced.size,
      missing_candidates: missing.length,
      missing_examples: missing.slice(0, 5),
      candidates_without_3_lineage_steps: incomplete,
      dlq: stats.dlq,
      dropped: stats.dropped,
      retries: stats.retries,
      batches: stats.batches,
      llm_requests: f.requests,
      llm_requests_failed: f.failed,
      llm_requests_by_client_usage: usage.reduce((s, u) => s + u.requests, 0),
      llm_reasks: usage.reduce((s, u) => s + u.reasks, 0),
      requests_per_message: round(f.requests / o.messages, 3),
      seconds: f.seconds,
      achieved_rps: f.rps,
      mean_request_latency_ms: f.mean_latency_ms,
      max_client_in_flight: meter.maxInFlight,
      endpoint_max_in_flight: after.maxInFlight,
      endpoint_requests: after.requests - before.requests,
      slot_utilization: utilization(after.busyMs - before.busyMs, o.slots, f.seconds),
      bench_process: { ...cpu, cpu_ms_per_request: round((cpu.cpu_seconds * 1000) / Math.max(1, f.requests)) },
      stage_startup_ms: round(meter.firstAt - stageStart),
      e2e_seconds: round(fromFirstRequest),
      messages_per_s: round(o.messages / fromFirstRequest),
      e2e_seconds_from_stage_start: round(fromStageStart),
      messages_per_s_from_stage_start: round(o.messages / fromStageStart),
      kafka: { bootstrap: ctx.config.kafka.bootstrapServers, topics: [topics.pairs.topic, topics.candidates.topic], partitions: o.partitions, cleanup_problems: cleanupProblems },
    };
  } finally {
    cleanupProblems.push(...(await removeBenchArtifacts(ctx.admin, ctx.config, topics, groups)));
    for (const p of cleanupProblems) log(`warning: ${p}`);
  }
}

async function main(): Promise<number> {
  let options: PipelineBenchOptions;
  try {
    if (process.argv.includes('--help')) {
      console.log(usage());
      return 0;
    }
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof OptionsError) {
      console.error(`bench:pipeline: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const config = loadConfig();
  const transport = platformaticTransport(config.kafka);
  const admin = transport.admin();
  const interrupts = new AbortController();
  process.once('SIGINT', () => interrupts.abort());
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const startMachine = machine();
  let endpoint: BenchEndpoint | undefined;
  try {
    try {
      await checkStack(admin, config);
    } catch (error) {
      console.error(`bench:pipeline: ${(error as Error).message}`);
      return 2;
    }
    const theoretical = options.latencyMs > 0 ? round((options.slots * 1000) / options.latencyMs) : null;
    endpoint = await spawnEndpoint({ latencyMs: options.latencyMs, slots: options.slots });
    log(`endpoint ${endpoint.baseUrl}: latency ${options.latencyMs} ms, ${options.slots} slots (theoretical ${theoretical ?? 'unbounded'} rps); measuring capacity with ${options.capacityRequests} requests ...`);
    const before = await measureCapacity(endpoint, options, 'capacity before');
    log(`  capacity ${before.rps} rps (${before.requests} requests in ${before.seconds} s, slot utilization ${before.slot_utilization})`);
    if (interrupts.signal.aborted) throw new Error('interrupted');
    const pipeline = await measurePipeline(endpoint, options, { config, transport, admin, runId, interrupted: interrupts.signal });
    log(`  pipeline ${pipeline.achieved_rps} LLM rps (${pipeline.llm_requests} requests in ${pipeline.seconds} s); measuring capacity again ...`);
    // Measured before and after, so that a change in the machine's load during the run shows; the
    // higher figure is the one compared against, which can only understate the efficiency.
    const after = await measureCapacity(endpoint, options, 'capacity after');
    log(`  capacity ${after.rps} rps (${after.requests} requests in ${after.seconds} s, slot utilization ${after.slot_utilization})`);
    const capacity = after.rps > before.rps ? after : before;
    const drift = round(Math.abs(after.rps - before.rps) / Math.max(before.rps, after.rps, 1), 3);
    if (drift > 0.05) log(`warning: the capacity changed by ${drift * 100}% between before and after the pipeline: the machine's load changed, the figures are noisy`);
    // Below this the client (this machine's CPU), not the endpoint, set the pace: the capacity
    // figure and so the efficiency would not mean what they say.
    const endpointBound = capacity.slot_utilization >= SATURATED;
    if (!endpointBound) log(`warning: the endpoint's slots were busy only ${capacity.slot_utilization} of the time while saturating it: this machine cannot drive ${theoretical} rps; use a higher --latency-ms or fewer --slots`);
    const efficiency = capacity.rps > 0 ? round(pipeline.achieved_rps / capacity.rps, 3) : 0;
    log(`efficiency ${efficiency}: ${pipeline.achieved_rps} / ${capacity.rps} rps; ${pipeline.messages_per_s} messages/s end to end`);

    const ok = pipeline.missing_candidates === 0 && pipeline.dlq === 0 && pipeline.candidates_without_3_lineage_steps === 0;
    const result = {
      endpoint_capacity_rps: capacity.rps,
      achieved_rps: pipeline.achieved_rps,
      efficiency,
      goal: { efficiency: GOAL, met: efficiency >= GOAL },
      every_message_became_a_candidate: ok,
      date: new Date().toISOString(),
      machine: { ...startMachine, loadavg_1m_end: round(os.loadavg()[0]) },
      parameters: { ...options, out: undefined },
      endpoint: { latency_ms: options.latencyMs, slots: options.slots, theoretical_rps: theoretical, in_child_process: true, capacity_limited_by_endpoint: endpointBound, capacity_drift: drift, capacity_before: before, capacity_after: after },
      pipeline,
    };
    const out = path.resolve(REPO_ROOT, options.out);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result, null, 2));
    log(`wrote ${path.relative(process.cwd(), out) || out}`);
    if (!ok) {
      log(`FAILED: ${pipeline.missing_candidates} messages without a candidate, ${pipeline.dlq} dead letters, ${pipeline.candidates_without_3_lineage_steps} candidates without 3 lineage steps`);
      return 1;
    }
    if (efficiency < GOAL) log(`efficiency ${efficiency} is below the goal of ${GOAL}; see bench/README.md for the knobs`);
    return 0;
  } finally {
    await endpoint?.stop();
    await admin.close().catch(() => undefined);
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  // everything the run created is gone by now (finally blocks); say what stopped it, briefly
  console.error(`bench:pipeline: ${(error as Error).message}`);
  process.exitCode = (error as Error).message === 'interrupted' ? 130 : 1;
}
