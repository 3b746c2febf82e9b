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
import { QUERY_NAMES, readQueries, renderQuery, sqlString, type QueryName } from '../../services/analytics/queries.ts';
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
      // row by row, each parsed (the report parses them all): no one string of the whole answer,
      // which at ten times the paper's scale would exceed what a JavaScript string can hold
      let n = 0;
      let size = 0;
      for await (const batch of rs.stream()) {
        for (const row of batch as Array<{ text: string; json(): unknown }>) {
          row.json();
          size += row.text.length + 1;
          n++;
        }
      }
      runs.push(round((performance.now() - t0) / 1000, 3));
      rows = n;
      bytes = size;
    }
    out[name] = { runs_s: runs, median_s: median(runs), rows, response_mb: round(bytes / 1e6, 2) };
    log(`  ${name}: ${runs.join(' / ')} s (${rows} rows, ${round(bytes / 1e6, 1)} MB)`);
  }
  return { bucket_seconds: bucketSeconds, runs_per_query: RUNS, queries: out };
}

/**
 * `grip report --from clickhouse --json`, as a user runs it: wall time, and what the report says.
 * `env` on top of the services' environment (the backlog run points the embeddings at the fake).
 */
export async function timeReportCommand(ctx: ScaleContext, label: string, env: NodeJS.ProcessEnv = {}) {
  log(`grip report --from clickhouse --json (${label}) ...`);
  const t0 = performance.now();
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'grip.mjs'), 'report', '--from', 'clickhouse', '--json'], { env: { ...ctx.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
    embeddings: (env.GRIP_EMBEDDINGS_BASE_URL ?? ctx.config.embeddings.baseUrl) as string,
    exit_code: result.code,
    verdicts: report?.verdicts ?? null,
    accepted: report?.accepted ?? null,
    combinations: report?.combinations?.total ?? null,
    seed_similarity_n: report?.seed_similarity?.n ?? null,
    warnings: report?.warnings ?? null,
    stderr: result.code === 0 ? undefined : result.stderr.slice(-2000),
  };
  log(`  grip report --from clickhouse (${label}): ${wall} s (exit ${result.code}; ${figures.verdicts} verdicts, ${figures.accepted} accepted${report?.warnings?.length ? `; warnings: ${report.warnings.join(' | ')}` : ''})`);
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

/**
 * seed_similarity completed for every accepted verdict of the configuration that has no row yet,
 * in the rows the report's backfill writes (verdict, each lineage seed or '' with NULL, the model,
 * the cosine): the state a running pipeline keeps, since the dashboard backfills at every refresh.
 * The similarities are synthetic (0.40-0.80, from a hash of the ids); the report's work on them is
 * what is timed. One INSERT ... SELECT inside ClickHouse.
 */
export async function completeSeedSimilarity(ctx: ScaleContext) {
  const db = ctx.config.clickhouse.database;
  const model = sqlString(ctx.config.embeddings.model);
  const count = async () => Number((await (await ctx.clickhouse.query({ query: `SELECT count() AS n FROM ${db}.seed_similarity`, format: 'JSONEachRow' })).json<{ n: string }>())[0]?.n ?? 0);
  const before = await count();
  const t0 = performance.now();
  await ctx.clickhouse.command({
    query: `INSERT INTO ${db}.seed_similarity (verdict_id, seed_id, model, similarity, computed_at, version)
      SELECT verdict_id, seed_id, ${model}, if(seed_id = '', NULL, 0.4 + (cityHash64(verdict_id, seed_id) % 400) / 1000), now(), toUInt64(toUnixTimestamp(now())) * 1000
      FROM (SELECT verdict_id, arrayJoin(if(empty(lineage_seed_ids), [''], lineage_seed_ids)) AS seed_id FROM ${db}.verdicts FINAL
            WHERE accepted = 1 AND judge_config_version = ${sqlString(ctx.judgeConfigVersion)}
              AND verdict_id NOT IN (SELECT verdict_id FROM ${db}.seed_similarity FINAL WHERE model = ${model}))`,
  });
  const after = await count();
  const figures = { rows_before: before, rows_inserted: after - before, rows_after: after, seconds: round((performance.now() - t0) / 1000) };
  log(`  seed_similarity completed: ${figures.rows_inserted} rows inserted (${before} were there) in ${figures.seconds} s`);
  return figures;
}

/** The stack's embeddings server: one request of 64 problem-sized texts, as the backfill sends them. */
export async function embeddingsServerRate(ctx: ScaleContext) {
  const texts = ctx.synth.freshCandidates(64, `embed-${Date.now()}`, Date.now()).map((c) => c.problem);
  const t0 = performance.now();
  const res = await fetch(`${ctx.config.embeddings.baseUrl}/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.config.embeddings.apiKey}` },
    body: JSON.stringify({ model: ctx.config.embeddings.model, input: texts }),
    signal: AbortSignal.timeout(300_000),
  });
  await res.arrayBuffer();
  const seconds = (performance.now() - t0) / 1000;
  const figures = { url: ctx.config.embeddings.baseUrl, http_status: res.status, texts: texts.length, seconds: round(seconds), texts_per_s: round(texts.length / seconds, 1) };
  log(`  embeddings server: ${texts.length} texts in ${figures.seconds} s (${figures.texts_per_s} texts/s, HTTP ${res.status})`);
  return figures;
}
