/**
 * The sink beside the raw client, in one run: N grip.candidates messages through Kafka into
 * ClickHouse with the clickhouse-sink's own stage (services/clickhouse-sink/topic-stage.ts), then the
 * same rows inserted by a bare @clickhouse/client in batches of the sink's size, one insert at a
 * time (as the sink's writer does per table). Between the two, the same messages read by a bare
 * consumer of the Kafka transport, decoded and mapped to rows, nothing stored: the work any sink
 * does besides the insert. Each phase reports its process's CPU and the whole machine's (broker
 * and ClickHouse included) per row; from them, the most any sink could reach on this machine.
 * Rows land in the `candidates` table of CLICKHOUSE_DATABASE (migrated first); ids repeat between
 * the two, which ReplacingMergeTree folds.
 */
import { availableParallelism } from 'node:os';
import { createClient } from '@clickhouse/client';
import { loadExamples } from '../../schemas/catalog.ts';
import type { Candidate } from '../../schemas/generated/types.ts';
import { migrate } from '../../services/clickhouse-sink/migrate.ts';
import { rowFor, TOPIC_TABLES } from '../../services/clickhouse-sink/rows.ts';
import { SINK_STAGE_OPTIONS, SINK_WRITER_OPTIONS, topicStageHandlers } from '../../services/clickhouse-sink/topic-stage.ts';
import { ClickHouseWriter } from '../../services/clickhouse-sink/writer.ts';
import { connectSerde, ensureTopics, runStage, type Serde } from '../../services/runtime/kafka/index.ts';
import { benchTopics, produceValues, removeBenchArtifacts } from './kafka.ts';
import { cpuProbe, machineCpuProbe, round } from './meter.ts';
import { log, stageLog, type PipelineContext } from './phases.ts';

const TOPIC = 'grip.candidates' as const;

function candidates(runId: string, n: number): Candidate[] {
  const example = loadExamples(TOPIC)[0]?.value as Candidate | undefined;
  if (!example) throw new Error('schemas/examples/grip.candidates has no example message');
  return Array.from({ length: n }, (_, i) => ({ ...example, candidate_id: `cand-bench-${runId}-${i}`, combo_id: `combo-bench-${runId}-${i}`, problem: `${example.problem} (variant ${i})` }));
}

export async function measureSink(n: number, ctx: PipelineContext) {
  const topics = benchTopics(ctx.runId, ctx.partitions);
  const groupId = `bench-${ctx.runId}-sink`;
  const table = TOPIC_TABLES[TOPIC];
  await migrate(ctx.config.clickhouse, { log: () => undefined });
  try {
    await ensureTopics(ctx.admin, [topics.candidates]);
    const serde = await connectSerde({ url: ctx.config.registry.url, topics: [topics.candidates] });
    // produced, then let go: a sink process does not hold its input in memory (the raw phase makes them again)
    await produceValues(ctx.transport, serde, topics.candidates.topic, candidates(ctx.runId, n));

    const writer = new ClickHouseWriter({ clickhouse: ctx.config.clickhouse, ...SINK_WRITER_OPTIONS });
    const probe = cpuProbe();
    const machine = machineCpuProbe();
    const t0 = performance.now();
    const handle = await runStage<unknown, never>({
      name: 'clickhouse-sink-bench',
      inputTopic: topics.candidates.topic,
      dlqTopic: topics.candidates.dlq,
      groupId,
      ...SINK_STAGE_OPTIONS,
      ...topicStageHandlers(writer, TOPIC),
      transport: ctx.transport,
      serde,
      handleSignals: false,
      lagIntervalMs: 0,
      log: stageLog,
    });
    // the sink produces nothing: it is done when its commits cover every message
    const committed = () => Object.values(handle.stats().committed).reduce((s, o) => s + Number(o), 0);
    const deadline = t0 + ctx.timeoutS * 1000;
    let firstAt: number | undefined; // the group join is not the sink's work: time from the first record
    while (committed() < n && performance.now() < deadline && !ctx.interrupted.aborted) {
      if (firstAt === undefined && handle.stats().in > 0) firstAt = performance.now();
      await new Promise((r) => setTimeout(r, 5));
    }
    const sinkSeconds = (performance.now() - (firstAt ?? t0)) / 1000;
    const sinkCpu = probe.stop();
    const sinkMachine = machine.stop();
    const rowsCommitted = committed();
    await handle.stop();
    await writer.close();

    const read = await readAndMap(ctx, serde, topics.candidates.topic, n, `${groupId}-read`);

    const rows = candidates(ctx.runId, n).map((v) => rowFor(TOPIC, v).row);
    const client = createClient({ url: ctx.config.clickhouse.url, username: ctx.config.clickhouse.username, password: ctx.config.clickhouse.password, database: ctx.config.clickhouse.database });
    const rawProbe = cpuProbe();
    const rawMachine = machineCpuProbe();
    const r0 = performance.now();
    for (let i = 0; i < rows.length; i += SINK_WRITER_OPTIONS.maxBatchRows) {
      await client.insert({ table, values: rows.slice(i, i + SINK_WRITER_OPTIONS.maxBatchRows), format: 'JSONEachRow' });
    }
    const rawSeconds = (performance.now() - r0) / 1000;
    const rawCpu = rawProbe.stop();
    const rawMachineCpu = rawMachine.stop();
    await client.close();
    const sinkRps = round(rowsCommitted / sinkSeconds);
    const rawRps = round(n / rawSeconds);
    const rawMachineUs = rawMachineCpu ? (rawMachineCpu.busy_cpu_seconds * 1e6) / n : undefined;
    const readMachineUs = read.machine && read.rows > 0 ? (read.machine.busy_cpu_seconds * 1e6) / read.rows : undefined;
    // A sink does at least what the raw insert makes the machine do (encode, send, ClickHouse's
    // parse and merge) plus reading, decoding and mapping the messages; with every core busy on
    // that and nothing else (no thread ever waiting), it could not go faster than this.
    const cores = availableParallelism();
    const boundRps = rawMachineUs !== undefined && readMachineUs !== undefined ? (cores * 1e6) / (rawMachineUs + readMachineUs) : undefined;
    return {
      rows: n,
      rows_committed_by_sink: rowsCommitted,
      sink_rows_per_s: sinkRps,
      raw_insert_rows_per_s: rawRps,
      ratio: round(sinkRps / rawRps, 3),
      ratio_upper_bound_from_cpu: boundRps === undefined ? null : round(boundRps / rawRps, 3),
      cores,
      sink_seconds: round(sinkSeconds),
      raw_seconds: round(rawSeconds),
      read_decode_map_rows_per_s: read.rows_per_s,
      sink_process: sinkCpu,
      raw_process: rawCpu,
      sink_machine: sinkMachine,
      raw_machine: rawMachineCpu,
      read_decode_map: read,
      cpu_us_per_row: {
        sink_process: perRow(sinkCpu.cpu_seconds, rowsCommitted),
        sink_machine: perRow(sinkMachine?.busy_cpu_seconds, rowsCommitted),
        raw_process: perRow(rawCpu.cpu_seconds, n),
        raw_machine: perRow(rawMachineCpu?.busy_cpu_seconds, n),
        read_decode_map_process: perRow(read.process.cpu_seconds, read.rows),
        read_decode_map_machine: perRow(read.machine?.busy_cpu_seconds, read.rows),
      },
      group_join_seconds: round(((firstAt ?? t0) - t0) / 1000),
      note:
        'sink: from its first record to the commit of the last message (group join excluded, reported apart; its CPU includes the join); ' +
        'raw: the same rows in batches of the sink size, one insert at a time; read_decode_map: the same messages read by a bare consumer, decoded and mapped to rows, nothing stored; ' +
        'ratio_upper_bound_from_cpu: cores / (machine CPU per row of the raw insert + of read_decode_map) over the raw rate, the most any sink could reach on this machine',
    };
  } finally {
    for (const p of await removeBenchArtifacts(ctx.admin, ctx.config, topics, [groupId])) log(`warning: ${p}`);
  }
}

const perRow = (cpuSeconds: number | undefined, rows: number) => (cpuSeconds === undefined || rows === 0 ? null : round((cpuSeconds * 1e6) / rows, 1));

/** The messages read by a bare consumer of the transport (a group of its own), decoded and mapped to rows; nothing stored. */
async function readAndMap(ctx: PipelineContext, serde: Serde, topic: string, n: number, groupId: string) {
  const consumer = await ctx.transport.consumer({ groupId, topics: [topic], maxRecords: SINK_STAGE_OPTIONS.maxBatchRecords });
  try {
    let rows = 0;
    let bytes = 0;
    let firstAt: number | undefined;
    const probe = cpuProbe();
    const machineProbe = machineCpuProbe();
    const deadline = performance.now() + ctx.timeoutS * 1000;
    while (rows < n && performance.now() < deadline && !ctx.interrupted.aborted) {
      const batches = await consumer.nextBatches(ctx.interrupted);
      firstAt ??= performance.now();
      for (const b of batches) {
        for (const r of b.records) {
          const row = rowFor(TOPIC, (await serde.decode(topic, r.value)) as Candidate).row;
          bytes += row.problem.length; // used, so the mapping is not optimised away
          rows++;
        }
      }
    }
    const seconds = (performance.now() - (firstAt ?? performance.now())) / 1000;
    return { rows, rows_per_s: seconds > 0 ? round(rows / seconds) : 0, seconds: round(seconds), problem_chars: bytes, process: probe.stop(), machine: machineProbe.stop() };
  } finally {
    await consumer.close();
    await ctx.admin.deleteGroups([groupId]).catch(() => undefined);
  }
}
