/**
 * The acceptance bars of the scale benchmark, checked against a run's figures, and the Markdown
 * summary of every run in the results file (one table per scale: each figure, its bar, pass/fail).
 * The bars are the paper scale's; at a larger scale the figures are reported without one.
 */
export interface Bar {
  figure: string;
  value: number | null;
  unit: string;
  /** The figure must be below this; null: reported without a bar. */
  below: number | null;
  pass: boolean | null;
}

/** Runs above the paper's scale have no bars (the issue: "--scale 10 runs to the end"). */
export const barsApply = (scale: number) => scale <= 1;

const get = (o: unknown, ...keys: string[]): any => keys.reduce((v: any, k) => (v === null || v === undefined ? undefined : v[k]), o);

/** Every figure with a bar, and the other headline figures, of one run. */
export function barsOf(run: Record<string, any>): Bar[] {
  const apply = barsApply(run.scale);
  const bar = (figure: string, value: unknown, unit: string, below: number | null): Bar => {
    const v = typeof value === 'number' && Number.isFinite(value) ? value : null;
    const limit = apply ? below : null;
    return { figure, value: v, unit, below: limit, pass: limit === null ? null : v !== null && v < limit };
  };
  const phases = run.phases ?? {};
  const bars: Bar[] = [
    bar('judge takeover: SIGKILL of the active judge to its first new verdict (standby running)', get(phases, 'judge', 'takeover', 'seconds_kill_to_first_new_verdict'), 's', 60),
    bar('judge peak RSS (active and standby, VmHWM)', get(phases, 'judge', 'memory', 'peak_rss_mb'), 'MB', 1500),
    bar('concept-graph restart: stop signal to state ready (with checkpoint)', get(phases, 'concept_graph', 'restart', 'seconds_stop_signal_to_rebuilt'), 's', 60),
    bar('`grip report --from clickhouse` wall time', get(phases, 'report', 'seconds'), 's', 30),
  ];
  for (const [name, q] of Object.entries<any>(get(phases, 'queries', 'queries') ?? {})) bars.push(bar(`query ${name} (median of ${q.runs_s?.length ?? '?'})`, q.median_s, 's', 2));
  // figures without a bar
  bars.push(
    bar('judge cold start: spawn to state rebuilt (no checkpoint)', get(phases, 'judge', 'cold_start', 'seconds_spawn_to_rebuilt'), 's', null),
    bar('concept-graph cold start: spawn to graph rebuilt (no checkpoint)', get(phases, 'concept_graph', 'cold_start', 'seconds_spawn_to_rebuilt'), 's', null),
    bar('concept-graph peak RSS', get(phases, 'concept_graph', 'peak_rss_mb'), 'MB', null),
    bar('concept-extractor: spawn to KC registry rebuilt', get(phases, 'concept_extractor', 'seconds_spawn_to_rebuilt'), 's', null),
    bar('concept-extractor: KC registry rebuild (logged)', get(phases, 'concept_extractor', 'rebuild_seconds_logged'), 's', null),
    bar('concept-extractor peak RSS', get(phases, 'concept_extractor', 'memory', 'peak_rss_mb'), 'MB', null),
    bar('sink catch-up rate (first row to every table full)', get(phases, 'sink', 'rows_per_s'), 'rows/s', null),
    bar('dashboard /api/report, first call', get(phases, 'dashboard', 'first', 'seconds'), 's', null),
    bar('`grip report` after the fill (backfills up to 5,000 similarities; fake embeddings endpoint)', get(phases, 'report_backlog', 'seconds'), 's', null),
    bar("the stack's embeddings server, texts per second (64 per request)", get(phases, 'embeddings_server', 'texts_per_s'), 'texts/s', null),
    bar('Kafka disk, all topics', get(phases, 'disk', 'topics', 'total_gb'), 'GB', null),
    bar('ClickHouse disk, all tables', get(phases, 'disk', 'tables', 'total_gb'), 'GB', null),
  );
  return bars;
}

const fmt = (v: number | null, unit: string) => (v === null ? 'not measured' : `${unit === 'rows/s' || unit === 'MB' ? Math.round(v).toLocaleString('en-US') : v.toLocaleString('en-US', { maximumFractionDigits: 2 })} ${unit}`);

export function markdownOf(results: { runs: Record<string, Record<string, any>> }): string {
  const out = ['# Scale benchmark (`npm run bench:scale`)', ''];
  const scales = Object.keys(results.runs).sort((a, b) => Number(a) - Number(b));
  for (const scale of scales) {
    const run = results.runs[scale]!;
    const m = run.machine ?? {};
    out.push(`## --scale ${scale}: ${run.sizes.seeds.toLocaleString('en-US')} seeds, ${run.sizes.kcs.toLocaleString('en-US')} KCs, ${run.sizes.combinations.toLocaleString('en-US')} combinations, candidates and verdicts`);
    out.push('');
    if (run.not_run) {
      out.push(`${run.date} · not run on this machine: it ${run.not_run}.`);
      out.push('');
      continue;
    }
    out.push(`${run.date} · ${m.cpus} CPUs (${m.cpu_model}) · ${m.total_mem_gb} GB RAM · Node ${m.node} · ${run.bench_seconds} s${run.interrupted ? ' · **interrupted: partial results**' : ''}${run.failed_phases?.length ? ` · **failed phases: ${run.failed_phases.join(', ')}**` : ''}`);
    out.push('');
    out.push('| figure | measured | bar | |');
    out.push('| --- | --- | --- | --- |');
    for (const b of barsOf(run)) out.push(`| ${b.figure} | ${fmt(b.value, b.unit)} | ${b.below === null ? (barsApply(run.scale) ? '-' : 'no bar at this scale') : `< ${b.below} ${b.unit}`} | ${b.pass === null ? '' : b.pass ? 'pass' : '**FAIL**'} |`);
    out.push('');
    const fill = run.phases?.fill;
    if (fill?.topics) {
      out.push('| topic | records | MiB | seconds | records/s | MiB/s |');
      out.push('| --- | --- | --- | --- | --- | --- |');
      for (const t of fill.topics) out.push(`| ${t.topic} | ${t.records.toLocaleString('en-US')} | ${(t.bytes / 2 ** 20).toFixed(1)} | ${t.seconds} | ${t.records_per_s.toLocaleString('en-US')} | ${t.mb_per_s} |`);
      out.push('');
    }
    const disk = run.phases?.disk;
    if (disk) {
      out.push('| disk (topics: the broker\'s log segment bytes; empty DLQs left out) | GB |');
      out.push('| --- | --- |');
      for (const [topic, t] of Object.entries<any>(disk.topics?.topics ?? {})) if (t.bytes > 0) out.push(`| topic ${topic} | ${(t.bytes / 1e9).toFixed(3)} |`);
      for (const [table, t] of Object.entries<any>(disk.tables?.tables ?? {})) out.push(`| table ${table} (${t.rows.toLocaleString('en-US')} rows, ${t.parts} parts) | ${(t.bytes_on_disk / 1e9).toFixed(3)} |`);
      out.push('');
    }
  }
  return out.join('\n') + '\n';
}
