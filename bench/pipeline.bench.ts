/**
 * `npm run bench:pipeline`: how much of a model endpoint's capacity the Kafka pipeline uses with the
 * settings it ships with (`grip services up`), over a matrix of endpoints.
 *
 * For every cell (bench/pipeline/matrix.ts: 4 / 16 / 64 / 256 slots x 20 ms / 200 ms / 2 s, and
 * three overload modes) one run:
 *  1. starts the fake OpenAI-compatible endpoint of that shape (test/fixtures/openai-server.ts, in
 *     a child process) and measures its capacity by saturating it directly with the LLM client
 *     (2 x slots in flight, fixed, after a warm-up): endpoint_capacity_rps. When its slots were
 *     busy less than 90% of the time, this machine cannot drive that endpoint: the cell says so
 *     and its pipeline phase is skipped;
 *  2. sends grip.pairs messages through the real local Kafka (private topics named after the run)
 *     into the problem-synth handler under runStage, with the LLM client and runStage options the
 *     service builds from the default settings (or the `tuned` flags, labelled so), and an
 *     in-memory answer cache, so that every model call is a real request. It checks that every
 *     message became a candidate;
 *  3. (cells up to 200 ms) measures the capacity again; the higher figure is compared against.
 * efficiency = steady-state requests/s (from the end of the limiter's ramp to the moment the input
 * ran out) / capacity; the whole run's figure is beside it. Writes bench/results/pipeline.json and
 * pipeline.md. Needs the local stack (`npm run stack:up`); says so and exits 2 when it is not running.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, REPO_ROOT } from '../services/runtime/config.ts';
import { platformaticTransport } from '../services/runtime/kafka/index.ts';
import { spawnEndpoint } from './pipeline/endpoint.ts';
import { checkStack } from './pipeline/kafka.ts';
import { benchCells, theoreticalRps, type BenchCell } from './pipeline/matrix.ts';
import { round } from './pipeline/meter.ts';
import { OptionsError, parseOptions, usage, type PipelineBenchOptions } from './pipeline/options.ts';
import { log, measureCapacity, measurePipeline, type PipelineContext } from './pipeline/phases.ts';
import { measureSink } from './pipeline/sink.ts';
import { markdownSummary } from './pipeline/summary.ts';

const GOAL = 0.95;
/** Slot utilization of the capacity phase that shows the endpoint, not the client, was the limit. */
const SATURATED = 0.9;

function machine() {
  return { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, total_mem_gb: round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.arch()}`, loadavg_1m: round(os.loadavg()[0]!) };
}

/** Model calls per second through Kafka that the ceiling cell must reach on this machine. */
const CEILING_GOAL = 1000;
/** Requests in flight of the raw-client baseline of the ceiling cell. */
const RAW_IN_FLIGHT = 64;

/**
 * The orchestration ceiling: an endpoint that answers at once, so this machine's CPUs are the only
 * limit; the LLM client alone (no Kafka) and the pipeline, measured one after the other in this run.
 */
async function runCeiling(cell: BenchCell, o: PipelineBenchOptions, ctx: PipelineContext) {
  const endpoint = await spawnEndpoint(cell.shape);
  try {
    log(`${cell.name}: endpoint without latency; the LLM client alone with ${RAW_IN_FLIGHT} in flight ...`);
    const raw = await measureCapacity(endpoint, cell.shape, Math.round(3000 * o.scale), 'raw client', RAW_IN_FLIGHT);
    log(`  raw client ${raw.rps} calls/s, ${raw.bench_process.cpu_ms_per_request} CPU ms per call`);
    const messages = Math.max(60, Math.round((raw.rps * cell.seconds * o.scale) / 3));
    log(`  pipeline: ${messages} messages (3 calls each) ...`);
    const pipeline = await measurePipeline(endpoint, cell.shape.slots, messages, ctx);
    const callsPerS = pipeline.whole_run.rps;
    log(`  through Kafka ${callsPerS} calls/s (${round(callsPerS / raw.rps, 3)} of the raw client), ${pipeline.bench_process.cpu_ms_per_request} CPU ms per call`);
    return {
      cell: cell.name,
      kind: cell.kind,
      endpoint: { ...cell.shape, theoretical_rps: null },
      drivable: true,
      model_calls_per_s_through_kafka: callsPerS,
      raw_client_calls_per_s: raw.rps,
      ratio_to_raw_client: round(callsPerS / raw.rps, 3),
      cpu_ms_per_call: pipeline.bench_process.cpu_ms_per_request,
      raw_client_cpu_ms_per_call: raw.bench_process.cpu_ms_per_request,
      checks: { every_message_became_a_candidate: pipeline.missing_candidates === 0 && pipeline.dlq === 0, ceiling_goal_met: callsPerS >= CEILING_GOAL },
      raw_client: raw,
      pipeline,
    };
  } finally {
    await endpoint.stop();
  }
}

/**
 * An endpoint faster than the orchestration ceiling measured in the same run (the most model calls
 * per second this machine routes through Kafka, against an endpoint that answers at once) cannot be
 * filled through the pipeline by this machine, whatever the settings: such a cell's efficiency goal
 * is checked against the ceiling, and the cell says so (`bounded_by_ceiling_rps`).
 */
function boundByCeiling(results: Array<Record<string, any>>): void {
  const ceiling = results.find((r) => r.kind === 'ceiling')?.model_calls_per_s_through_kafka as number | undefined;
  if (!ceiling) return;
  for (const r of results) {
    if (!r.drivable || !r.checks || !('efficiency_goal_met' in r.checks) || !(r.endpoint_capacity_rps > ceiling)) continue;
    r.bounded_by_ceiling_rps = ceiling;
    r.efficiency_within_ceiling = round(r.achieved_rps / ceiling, 3);
    r.checks.efficiency_goal_met = r.efficiency_within_ceiling >= GOAL;
  }
}

/** The sink must reach this share of a raw insert of the same rows. */
const SINK_GOAL = 0.8;

async function runSink(cell: BenchCell, o: PipelineBenchOptions, ctx: PipelineContext) {
  const rows = Math.round(20_000 * o.scale);
  log(`${cell.name}: ${rows} grip.candidates rows through the clickhouse-sink stage, then by a raw insert ...`);
  const sink = await measureSink(rows, ctx);
  log(`  sink ${sink.sink_rows_per_s} rows/s, raw insert ${sink.raw_insert_rows_per_s} rows/s (ratio ${sink.ratio})`);
  return { cell: cell.name, kind: cell.kind, drivable: true, checks: { every_row_committed: sink.rows_committed_by_sink === rows, sink_goal_met: sink.ratio >= SINK_GOAL }, sink };
}

async function runCell(cell: BenchCell, o: PipelineBenchOptions, ctx: PipelineContext) {
  if (cell.kind === 'ceiling') return runCeiling(cell, o, { ...ctx, runId: `${ctx.runId}-${cell.name}` });
  if (cell.kind === 'sink') return runSink(cell, o, { ...ctx, runId: `${ctx.runId}-${cell.name}` });
  const theoretical = round(theoreticalRps(cell.shape));
  // about 3 s of the endpoint's capacity, but no more than this machine sends in a few seconds
  const capacityRequests = Math.round(Math.max(3 * cell.shape.slots, Math.min(theoretical * 3, 1500) * o.scale));
  const endpoint = await spawnEndpoint(cell.shape);
  try {
    log(`${cell.name}: endpoint ${JSON.stringify(cell.shape)} (theoretical ${theoretical} rps); capacity with ${capacityRequests} requests ...`);
    const before = await measureCapacity(endpoint, cell.shape, capacityRequests, 'capacity before');
    const drivable = before.slot_utilization >= SATURATED;
    log(`  capacity ${before.rps} rps, slot utilization ${before.slot_utilization}${drivable ? '' : ': this machine cannot drive this endpoint; pipeline skipped'}`);
    if (!drivable) return { cell: cell.name, kind: cell.kind, endpoint: { ...cell.shape, theoretical_rps: theoretical }, drivable, capacity_before: before };
    const messages = Math.max(20, Math.round((Math.min(theoretical, before.rps) * cell.seconds * o.scale) / 3));
    log(`  pipeline: ${messages} messages (3 requests each) ...`);
    const pipeline = await measurePipeline(endpoint, cell.shape.slots, messages, { ...ctx, runId: `${ctx.runId}-${cell.name}` });
    const after = cell.shape.latencyMs <= 200 ? await measureCapacity(endpoint, cell.shape, capacityRequests, 'capacity after') : undefined;
    const capacity = Math.max(before.rps, after?.rps ?? 0);
    const efficiency = round(pipeline.steady.rps / capacity, 3);
    // The floor: the lowest latency the endpoint's limiter measured (its window means), i.e. the
    // service time plus this client's own round trip; the nominal service time when there is none.
    const floorMs = pipeline.limiter?.floorMs || cell.shape.latencyMs;
    const checks = {
      every_message_became_a_candidate: pipeline.missing_candidates === 0 && pipeline.dlq === 0,
      // with 429s or 5xx the goal is that nothing is lost; their efficiency is reported, not checked
      // (a Retry-After pauses every caller of the endpoint, as it asks)
      ...(cell.kind === 'matrix' || cell.kind === 'overload-queue' ? { efficiency_goal_met: efficiency >= GOAL } : {}),
      // overload without 429: once settled, the limit stays near the slot count and p99 within 2x the floor
      ...(cell.kind === 'overload-queue' && !pipeline.stage_settings.tuned
        ? { p99_within_2x_floor: pipeline.settled.p99_ms <= 2 * floorMs, limit_settled_near_slots: pipeline.settled.limit_min !== null && pipeline.settled.limit_min >= cell.shape.slots && (pipeline.settled.limit_max ?? Infinity) <= 1.5 * cell.shape.slots }
        : {}),
    };
    log(`  efficiency ${efficiency} (steady ${pipeline.steady.rps} / capacity ${capacity} rps; whole run ${pipeline.whole_run.rps}); ramp ${pipeline.ramp_seconds} s; limit ${pipeline.limiter?.limit} (settled ${pipeline.settled.limit_min}-${pipeline.settled.limit_max}); p99 ${pipeline.steady.p99_ms} ms (settled ${pipeline.settled.p99_ms}, ${round(pipeline.settled.p99_ms / floorMs, 2)} x the floor ${round(floorMs)} ms); ${pipeline.bench_process.cpu_ms_per_request} CPU ms per call`);
    return {
      cell: cell.name,
      kind: cell.kind,
      endpoint: { ...cell.shape, theoretical_rps: theoretical },
      drivable,
      endpoint_capacity_rps: capacity,
      achieved_rps: pipeline.steady.rps,
      efficiency,
      efficiency_whole_run: round(pipeline.whole_run.rps / capacity, 3),
      floor_ms: round(floorMs),
      settled_p99_over_floor: round(pipeline.settled.p99_ms / floorMs, 3),
      cpu_ms_per_call: pipeline.bench_process.cpu_ms_per_request,
      checks,
      capacity_before: before,
      capacity_after: after,
      capacity_drift: after ? round(Math.abs(after.rps - before.rps) / Math.max(before.rps, after.rps, 1), 3) : null,
      pipeline,
    };
  } finally {
    await endpoint.stop();
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
  const cells = benchCells().filter((c) => !options.cells || options.cells.includes(c.name));
  if (cells.length === 0) {
    console.error(`bench:pipeline: --cells matches none of ${benchCells().map((c) => c.name).join(', ')}`);
    return 2;
  }
  const config = loadConfig();
  const transport = platformaticTransport(config.kafka);
  const admin = transport.admin();
  const interrupts = new AbortController();
  process.once('SIGINT', () => interrupts.abort());
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const startMachine = machine();
  const started = performance.now();
  try {
    try {
      await checkStack(admin, config);
    } catch (error) {
      console.error(`bench:pipeline: ${(error as Error).message}`);
      return 2;
    }
    const results = [];
    for (const cell of cells) {
      if (interrupts.signal.aborted) throw new Error('interrupted');
      results.push(await runCell(cell, options, { config, transport, admin, runId, interrupted: interrupts.signal, partitions: options.partitions, timeoutS: options.timeoutS, tuned: options.tuned }));
    }
    boundByCeiling(results as Array<Record<string, any>>);
    const run = results.filter((r) => r.drivable && 'checks' in r);
    const failed = run.filter((r) => 'checks' in r && r.checks && Object.values(r.checks).some((v) => v === false)).map((r) => r.cell);
    const result = {
      settings: Object.keys(options.tuned).length > 0 ? { label: 'tuned', ...options.tuned } : { label: 'shipped defaults (grip services up)' },
      goal: { efficiency: GOAL },
      all_checks_met: failed.length === 0,
      failed_cells: failed,
      not_drivable_by_this_machine: results.filter((r) => !r.drivable).map((r) => r.cell),
      date: new Date().toISOString(),
      bench_seconds: round((performance.now() - started) / 1000),
      machine: { ...startMachine, loadavg_1m_end: round(os.loadavg()[0]!) },
      parameters: { ...options, out: undefined },
      cells: results,
    };
    const out = path.resolve(REPO_ROOT, options.out);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    writeFileSync(out.replace(/\.json$/, '') + '.md', markdownSummary(result));
    log(`wrote ${path.relative(process.cwd(), out)} and its .md summary; ${failed.length === 0 ? 'every check met' : `checks missed in ${failed.join(', ')}`}`);
    // lost work is a failure of the pipeline; a missed rate on a shared machine is a figure
    const lost = run.some((r) => 'checks' in r && r.checks && (('every_message_became_a_candidate' in r.checks && !r.checks.every_message_became_a_candidate) || ('every_row_committed' in r.checks && !r.checks.every_row_committed)));
    return lost ? 1 : 0;
  } finally {
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
