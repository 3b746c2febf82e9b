/**
 * The two measurements of one bench cell: the endpoint's capacity (saturated directly by the LLM
 * client with a fixed number in flight) and the pipeline (messages through Kafka into problem-synth
 * under runStage, with the settings the service ships with unless the run is `tuned`).
 */
import { problemSynthesis } from '../../core/prompts/index.ts';
import type { Candidate, Combination } from '../../schemas/generated/types.ts';
import { synthesizeProblem } from '../../services/problem-synth/handler.ts';
import type { GripConfig, LlmEndpoint } from '../../services/runtime/config.ts';
import { connectSerde, ensureTopics, runStage, type AdminPort, type KafkaTransport, type StageHandle } from '../../services/runtime/kafka/index.ts';
import { LlmClient, MemoryLlmCache } from '../../services/runtime/llm.ts';
import { llmStageFlow } from '../../services/runtime/llm-flow.ts';
import { endpointLabel, LimiterRegistry, processLimiters } from '../../services/runtime/limiters.ts';
import { PATIENT_RETRIES } from '../../services/runtime/stage.ts';
import { LLM_STEPS } from '../../services/stages.ts';
import { parseRunFile, resolveRunSettings } from '../../services/runtime/settings.ts';
import type { BenchEndpoint, EndpointShape } from './endpoint.ts';
import { benchCombinations, benchTopics, produceValues, readValues, removeBenchArtifacts } from './kafka.ts';
import { cpuProbe, RequestMeter, round } from './meter.ts';
import type { TunedSettings } from './options.ts';

export const MODEL = 'bench-fake';
export const log = (line: string) => process.stderr.write(`bench:pipeline: ${line}\n`);

/** A bench stage's log: warnings and errors only, on stderr. */
export function stageLog(level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
  if (level !== 'info') log(`${level}: ${message} ${JSON.stringify(fields ?? {}, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
}

export function benchEndpoints(baseUrl: string): Record<string, LlmEndpoint> {
  const e: LlmEndpoint = { baseUrl, model: MODEL, apiKey: 'none' };
  return { synthesize: e, difficulty: e, solve: e, solve_hard: e };
}

/** A limiter registry that does not adapt: exactly `n` in flight (the capacity phase, tuned runs). */
const fixedLimiters = (n: number) => new LimiterRegistry({ initial: n, min: n });

const utilization = (busyMs: number, slots: number, seconds: number) => (seconds > 0 ? round(busyMs / (slots * seconds * 1000), 3) : 0);

/** The endpoint saturated directly by the LLM client (2 x slots in flight), after a warm-up that is not counted. */
export async function measureCapacity(endpoint: BenchEndpoint, shape: EndpointShape, requests: number, tag: string, inFlight?: number) {
  const slots = shape.slots;
  // a queue bound would answer 429 beyond it: stay inside
  const concurrency = inFlight ?? Math.min(2 * slots, slots + (shape.queueBound ?? Infinity));
  const fire = async (meter: RequestMeter, n: number, tag: string) => {
    const llm = new LlmClient({ endpoints: benchEndpoints(endpoint.baseUrl), cache: new MemoryLlmCache(), concurrency, limiters: fixedLimiters(concurrency), http: meter.wrap() });
    // distinct KC names: distinct prompts, so each call is a request
    await Promise.all(Array.from({ length: n }, (_, i) => llm.json('synthesize', problemSynthesis['2-hop'], { kcs: [`${tag} probe ${i}`, 'circle equation'] })));
  };
  await fire(new RequestMeter(), concurrency, `${tag} warm-up`);
  const before = await endpoint.stats();
  const meter = new RequestMeter();
  const probe = cpuProbe();
  await fire(meter, requests, tag);
  const cpu = probe.stop();
  const after = await endpoint.stats();
  const f = meter.figures();
  return {
    ...f,
    bench_process: { ...cpu, cpu_ms_per_request: round((cpu.cpu_seconds * 1000) / Math.max(1, f.requests)) },
    client_concurrency: concurrency,
    endpoint_max_in_flight: after.maxInFlight,
    slot_utilization: utilization(after.busyMs - before.busyMs, slots, f.seconds),
  };
}

interface Progress {
  /** When the stage had admitted every message (the input ran out: from here on it only drains). */
  allAdmittedAt: number;
  /** Last moment requests waited for the endpoint's limiter (the client had more work than it let through). */
  lastSaturatedAt: number;
  handledAt: number;
  /** First time the endpoint's limit reached its slot count (the end of the ramp), if it did. */
  rampEndAt?: number;
  /** Limit every 100 ms, for the settle figure. */
  limits: Array<{ t: number; limit: number }>;
}

/** Follows the stage until it handled `n` messages; rejects on a crash or the deadline. */
function follow(handle: StageHandle, n: number, timeoutMs: number, interrupted: AbortSignal, limiterKey: string, slots: number): Promise<Progress> {
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + timeoutMs;
    const p: Progress = { allAdmittedAt: NaN, lastSaturatedAt: NaN, handledAt: NaN, limits: [] };
    let lastLimitAt = -Infinity;
    const timer = setInterval(() => {
      const s = handle.stats();
      const t = performance.now();
      const snapshot = processLimiters.snapshot()[limiterKey];
      const limit = snapshot?.limit ?? 0;
      if (snapshot && snapshot.waiting > 0) p.lastSaturatedAt = t;
      if (p.rampEndAt === undefined && limit >= slots) p.rampEndAt = t;
      if (t - lastLimitAt >= 100) {
        p.limits.push({ t, limit });
        lastLimitAt = t;
      }
      if (Number.isNaN(p.allAdmittedAt) && s.in >= n) p.allAdmittedAt = t;
      if (s.out + s.dlq + s.dropped >= n) {
        clearInterval(timer);
        p.handledAt = t;
        resolve(p);
      } else if (interrupted.aborted || t > deadline) {
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

export interface PipelineContext {
  config: GripConfig;
  transport: KafkaTransport;
  admin: AdminPort;
  runId: string;
  interrupted: AbortSignal;
  partitions: number;
  timeoutS: number;
  tuned: Partial<TunedSettings>;
}

/** N messages through Kafka into problem-synth under runStage. */
export async function measurePipeline(endpoint: BenchEndpoint, slots: number, messages: number, ctx: PipelineContext) {
  const topics = benchTopics(ctx.runId, ctx.partitions);
  const groupId = `bench-${ctx.runId}-problem-synth`;
  const verifyGroup = `bench-${ctx.runId}-verify`;
  const cleanupProblems: string[] = [];
  const groups = [groupId];
  try {
    await ensureTopics(ctx.admin, [topics.pairs, topics.candidates]);
    const serde = await connectSerde({ url: ctx.config.registry.url, topics: [topics.pairs, topics.candidates] });
    const combos = benchCombinations(ctx.runId, messages, Date.now());
    await produceValues(ctx.transport, serde, topics.pairs.topic, combos);

    // What `grip services up` runs: the default settings file, the LLM client as the service builds
    // it (the process's shared limiters), problem-synth's runStage options (service.ts).
    const settings = resolveRunSettings(parseRunFile({}), {}, ctx.config, LLM_STEPS);
    const meter = new RequestMeter();
    const t = ctx.tuned;
    const llm = new LlmClient({
      endpoints: benchEndpoints(endpoint.baseUrl),
      cache: new MemoryLlmCache(),
      concurrency: t.llmConcurrency ?? settings.concurrency,
      ...(t.llmConcurrency ? { limiters: fixedLimiters(t.llmConcurrency) } : {}),
      http: meter.wrap(),
    });
    const flow = { ...llmStageFlow(settings.concurrency, llm), ...(t.concurrency ? { concurrency: t.concurrency, ready: undefined } : {}) };
    if (t.maxInFlightBatches) flow.maxInFlightBatches = t.maxInFlightBatches;
    if (t.maxBatchRecords) flow.maxBatchRecords = t.maxBatchRecords;
    const before = await endpoint.stats();
    const probe = cpuProbe();
    const stageStart = performance.now();
    const handle = await runStage<Combination, Candidate>({
      name: 'problem-synth-bench',
      inputTopic: topics.pairs.topic,
      outputTopic: topics.candidates.topic,
      dlqTopic: topics.pairs.dlq,
      groupId,
      ...PATIENT_RETRIES,
      ...flow,
      handler: (combo) => synthesizeProblem(combo, { llm, now: Date.now }),
      transport: ctx.transport,
      serde,
      handleSignals: false,
      lagIntervalMs: 0,
      log: stageLog,
    });
    const key = endpointLabel(endpoint.baseUrl, MODEL);
    let progress: Progress;
    try {
      progress = await follow(handle, messages, ctx.timeoutS * 1000, ctx.interrupted, key, slots);
    } finally {
      await handle.stop();
    }
    const cpu = probe.stop();
    const after = await endpoint.stats();
    const stats = handle.stats();
    const f = meter.figures();
    const usage = Object.values(llm.usageByStage());
    const limiter = t.llmConcurrency ? undefined : processLimiters.snapshot()[key];

    groups.push(verifyGroup);
    const candidates = (await readValues(ctx.transport, serde, topics.candidates.topic, verifyGroup, stats.out, 60_000)) as Candidate[];
    const produced = new Set(candidates.map((c) => c.combo_id));
    const missing = combos.filter((c) => !produced.has(c.combo_id)).map((c) => c.combo_id);

    // Steady state: from the end of the ramp (the limit first reached the slot count; the run's
    // first request if it never did) to the moment the work ran out: the input was all admitted
    // and no request waited for the limiter any more (after it the stage can only drain). The whole
    // run, first request to last answer, is reported beside it.
    const steadyFrom = progress.rampEndAt ?? meter.firstAt;
    const steadyTo = Math.max(progress.allAdmittedAt, Number.isNaN(progress.lastSaturatedAt) ? -Infinity : progress.lastSaturatedAt);
    const steady = meter.between(steadyFrom, steadyTo);
    const whole = meter.between(meter.firstAt, progress.handledAt);
    // Settled: the second half of the steady state, after the slow start's one overshoot was corrected.
    const settledFrom = (steadyFrom + steadyTo) / 2;
    const settledWindow = meter.between(settledFrom, steadyTo);
    const settled = progress.limits.filter((l) => l.t >= settledFrom && l.t <= steadyTo).map((l) => l.limit);
    return {
      messages,
      candidates: candidates.length,
      missing_candidates: missing.length,
      missing_examples: missing.slice(0, 5),
      dlq: stats.dlq,
      retries: stats.retries,
      llm_requests: f.requests,
      llm_requests_failed: f.failed,
      llm_reasks: usage.reduce((s, u) => s + u.reasks, 0),
      ramp_seconds: progress.rampEndAt === undefined ? null : round((progress.rampEndAt - meter.firstAt) / 1000),
      steady,
      settled: { p50_ms: settledWindow.p50_ms, p99_ms: settledWindow.p99_ms, rps: settledWindow.rps, limit_min: settled.length ? Math.min(...settled) : null, limit_max: settled.length ? Math.max(...settled) : null },
      whole_run: { ...whole, mean_latency_ms: f.mean_latency_ms },
      limiter,
      endpoint_max_in_flight: after.maxInFlight,
      endpoint_requests: after.requests - before.requests,
      endpoint_429: after.rejected - before.rejected,
      endpoint_5xx: after.failed - before.failed,
      slot_utilization: utilization(after.busyMs - before.busyMs, slots, f.seconds),
      bench_process: { ...cpu, cpu_ms_per_request: round((cpu.cpu_seconds * 1000) / Math.max(1, f.requests)) },
      stage_startup_ms: round(meter.firstAt - stageStart),
      stage_settings: { tuned: Object.keys(t).length > 0, concurrency: flow.concurrency, max_in_flight_batches: flow.maxInFlightBatches, max_batch_records: flow.maxBatchRecords, record_admission: flow.ready ? 'by endpoint limiter' : 'fixed', llm_concurrency: t.llmConcurrency ?? settings.concurrency },
    };
  } finally {
    cleanupProblems.push(...(await removeBenchArtifacts(ctx.admin, ctx.config, topics, groups)));
    for (const p of cleanupProblems) log(`warning: ${p}`);
  }
}
