/**
 * Phase f: the analytics on the full tables.
 *
 * - Every query the dashboard and `grip report --from clickhouse` run (deploy/clickhouse/analytics,
 *   rendered as services/analytics renders them: the judge config, the time bucket the report picks,
 *   the embeddings model, the backfill's batch of 128), each run RUNS times in a row and timed from
 *   the request to the parsed rows, as the report reads them; the bar applies to the median.
 * - `grip report --from clickhouse --json` as a user runs it (a process of its own, the stack's
 *   embeddings server for the similarity backfill): wall time.
 * - The dashboard service (`grip services run dashboard`): its /api/report, first and again.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { bucketSecondsFor } from '../../services/analytics/map.ts';
import { QUERY_NAMES, readQueries, renderQuery, type QueryName } from '../../services/analytics/queries.ts';
import { REPO_ROOT } from '../../services/runtime/config.ts';
import { log, round, until, type ScaleContext } from './context.ts';
import { healthOf, ServiceProcess } from './process.ts';

const RUNS = 3;
/** The similarity backfill's batch (services/analytics/similarity.ts). */
const BACKFILL_BATCH = 128;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function timeQueries(ctx: ScaleContext) {
  const db = ctx.config.clickhouse.database;
  const queries = readQueries();
  const judgeConfig = ctx.judgeConfigVersion;
  const span = (await (await ctx.clickhouse.query({ query: renderQuery('time_span', queries.time_span, { db }), format: 'JSONEachRow' })).json<{ first_at: number; last_at: number }>())[0];
  const bucketSeconds = bucketSecondsFor(Math.max(0, Number(span?.last_at ?? 0) - Number(span?.first_at ?? 0)));
  const params: Record<QueryName, Parameters<typeof renderQuery>[2]> = {
    judge_configs: { db },
    novelty_overall: { db },
    novelty_over_time: { db, bucketSeconds },
    acceptance_by_relation: { db, judgeConfig },
    answer_checks: { db, judgeConfig },
    kc_coverage: { db, judgeConfig },
    seed_similarity: { db, judgeConfig, embeddingsModel: ctx.config.embeddings.model },
    contamination_judge: { db, judgeConfig },
    accepted_problems: { db, judgeConfig },
    throughput: { db, judgeConfig, bucketSeconds },
    cost: { db, judgeConfig },
    dlq_by_stage: { db },
    time_span: { db },
    backfill_missing_similarity: { db, judgeConfig, embeddingsModel: ctx.config.embeddings.model, limit: BACKFILL_BATCH },
  };
  const out: Record<string, { runs_s: number[]; median_s: number; rows: number; response_mb: number }> = {};
  log(`timing ${QUERY_NAMES.length} analytics queries on the full tables (${RUNS} runs each) ...`);
  for (const name of QUERY_NAMES) {
    const sql = renderQuery(name, queries[name], params[name]);
    const runs: number[] = [];
    let rows = 0;
    let bytes = 0;
    for (let i = 0; i < RUNS; i++) {
      if (ctx.signal.aborted) throw new Error('interrupted');
      const t0 = performance.now();
      const rs = await ctx.clickhouse.query({ query: sql, format: 'JSONEachRow' });
      const text = await rs.text();
      const parsed = text.length === 0 ? [] : text.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
      runs.push(round((performance.now() - t0) / 1000, 3));
      rows = parsed.length;
      bytes = text.length;
    }
    out[name] = { runs_s: runs, median_s: median(runs), rows, response_mb: round(bytes / 1e6, 2) };
    log(`  ${name}: ${runs.join(' / ')} s (${rows} rows, ${round(bytes / 1e6, 1)} MB)`);
  }
  return { bucket_seconds: bucketSeconds, runs_per_query: RUNS, queries: out };
}

/** `grip report --from clickhouse --json`, as a user runs it: wall time, and what the report says. */
export async function timeReportCommand(ctx: ScaleContext) {
  log('grip report --from clickhouse --json ...');
  const t0 = performance.now();
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'grip.mjs'), 'report', '--from', 'clickhouse', '--json'], { env: ctx.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const onAbort = () => child.kill('SIGKILL');
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => child.kill('SIGKILL'), 900_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      resolve({ code, stdout, stderr });
    });
  });
  const wall = round((performance.now() - t0) / 1000);
  if (ctx.signal.aborted) throw new Error('interrupted');
  let report: Record<string, any> | null = null;
  try {
    report = JSON.parse(result.stdout);
  } catch {
    report = null;
  }
  const figures = {
    seconds: wall,
    exit_code: result.code,
    verdicts: report?.verdicts ?? null,
    accepted: report?.accepted ?? null,
    combinations: report?.combinations?.total ?? null,
    seed_similarity_n: report?.seed_similarity?.n ?? null,
    warnings: report?.warnings ?? null,
    stderr: result.code === 0 ? undefined : result.stderr.slice(-2000),
  };
  log(`  grip report --from clickhouse: ${wall} s (exit ${result.code}; ${figures.verdicts} verdicts, ${figures.accepted} accepted${report?.warnings?.length ? `; warnings: ${report.warnings.join(' | ')}` : ''})`);
  return figures;
}

/** The dashboard service's /api/report on the full tables: the first call, and one after its reuse interval. */
export async function timeDashboard(ctx: ScaleContext, port: number) {
  log('dashboard: /api/report ...');
  const p = new ServiceProcess('dashboard', 'dashboard', ctx.env, port, ctx.logDir);
  try {
    await until('the dashboard to answer', async () => (await healthOf(port)) !== null, 120_000, 250, ctx.signal);
    const call = async () => {
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/api/report`, { signal: AbortSignal.timeout(900_000) });
      const body = (await res.json()) as { status: string; report?: Record<string, any>; error?: string };
      return { seconds: round((performance.now() - t0) / 1000), http_status: res.status, status: body.status, error: body.error, warnings: body.report?.warnings };
    };
    const first = await call();
    // the dashboard reuses a report for 2 s (minReportIntervalMs): the second call computes a new one
    await new Promise((r) => setTimeout(r, 2_500));
    const second = await call();
    const memory = p.memory();
    log(`  dashboard /api/report: ${first.seconds} s, then ${second.seconds} s (HTTP ${first.http_status}/${second.http_status}); peak RSS ${memory.peak_rss_mb} MB`);
    return { first, second, memory };
  } finally {
    await p.stop();
  }
}
