/** The .md summary of bench/results/pipeline.json: one line per cell. */
type Row = Record<string, any>;

export function markdownSummary(result: Row): string {
  const lines = [
    `# bench:pipeline (${result.settings.label})`,
    '',
    `${result.date}, ${result.machine.cpus} CPUs, load average ${result.machine.loadavg_1m} -> ${result.machine.loadavg_1m_end}, ${result.bench_seconds} s in all. Efficiency = steady-state requests/s / capacity (goal ${result.goal.efficiency}); whole run = first request to last answer, ramp and drain included.`,
    '',
    '| cell | capacity rps | achieved rps | efficiency | whole run | ramp s | limit (settled) | p50 / p99 ms (settled) | settled p99 / floor ms | CPU ms/call | checks |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const c of result.cells as Row[]) {
    if (c.kind === 'ceiling' || c.kind === 'sink') continue;
    if (!c.drivable) {
      lines.push(`| ${c.cell} | ${c.capacity_before.rps} (slots busy ${c.capacity_before.slot_utilization}) | - | - | - | - | - | - | - | ${c.capacity_before.bench_process.cpu_ms_per_request} | not drivable by this machine |`);
      continue;
    }
    const p = c.pipeline;
    const l = p.limiter;
    const missed = Object.entries(c.checks).filter(([, v]) => v === false).map(([k]) => k);
    lines.push(
      `| ${c.cell} | ${c.endpoint_capacity_rps} | ${c.achieved_rps} | ${c.efficiency} | ${c.efficiency_whole_run} | ${p.ramp_seconds ?? '-'} | ${l ? `${l.limit} (${p.settled.limit_min}-${p.settled.limit_max})` : 'fixed'} | ${p.steady.p50_ms} / ${p.steady.p99_ms} (${p.settled.p50_ms} / ${p.settled.p99_ms}) | ${c.settled_p99_over_floor ?? '-'} x ${c.floor_ms ?? '-'} | ${c.cpu_ms_per_call} | ${missed.length ? `missed: ${missed.join(', ')}` : 'ok'}${c.bounded_by_ceiling_rps ? ` (endpoint above this machine's ceiling of ${c.bounded_by_ceiling_rps} calls/s through Kafka: ${c.efficiency_within_ceiling} of the ceiling)` : ''}${p.endpoint_429 ? `, ${p.endpoint_429} x 429` : ''}${p.endpoint_5xx ? `, ${p.endpoint_5xx} x 5xx` : ''} |`,
    );
  }
  for (const c of (result.cells as Row[]).filter((c) => c.kind === 'ceiling')) {
    lines.push('', `Orchestration ceiling (endpoint without latency): ${c.model_calls_per_s_through_kafka} model calls/s through Kafka at ${c.cpu_ms_per_call} CPU ms per call; the LLM client alone ${c.raw_client_calls_per_s} calls/s at ${c.raw_client_cpu_ms_per_call} CPU ms per call (ratio ${c.ratio_to_raw_client}); goal 1000 calls/s: ${c.checks.ceiling_goal_met ? 'met' : 'missed'}.`);
  }
  for (const c of (result.cells as Row[]).filter((c) => c.kind === 'sink')) {
    lines.push('', `clickhouse-sink: ${c.sink.sink_rows_per_s} rows/s through Kafka into ClickHouse beside a raw @clickhouse/client insert of the same rows at ${c.sink.raw_insert_rows_per_s} rows/s (ratio ${c.sink.ratio}, goal 0.8: ${c.checks.sink_goal_met ? 'met' : 'missed'}).`);
    const u = c.sink.cpu_us_per_row;
    if (u) {
      lines.push(
        `CPU microseconds per row (process / whole machine): sink ${u.sink_process} / ${u.sink_machine}, raw insert ${u.raw_process} / ${u.raw_machine}, ` +
          `reading, decoding and mapping the messages alone ${u.read_decode_map_process} / ${u.read_decode_map_machine} (${c.sink.read_decode_map_rows_per_s} rows/s). ` +
          `With all ${c.sink.cores} cores busy on only that and the raw insert's work, a sink could reach at most ${c.sink.ratio_upper_bound_from_cpu} of the raw rate here.`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
