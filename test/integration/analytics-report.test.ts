/**
 * clickhouseReport against the real local ClickHouse (18.16 here), on a throwaway database filled
 * with synthetic pipeline messages (test/unit/analytics/synthetic.ts) through the sink's row mappers
 * and writer, some inserted twice (FINAL must count them once), with a replayed verdict for some
 * candidates (another judge_config_version). Every figure is checked against a direct SQL count
 * written here independently of deploy/clickhouse/analytics, and against core/report (and
 * core/decontam) applied to the same messages in memory. Also: an empty database gives nulls, not
 * errors; an unreachable ClickHouse gives an error naming the URL; the embeddings endpoint down
 * gives null similarity with a warning; and `grip report --from clickhouse --json` prints the same
 * figures. The database grip_test_<time>_<pid> is dropped afterwards.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNgramIndex, type BenchmarkRecord } from '../../core/decontam/index.ts';
import { DASHBOARD_FILE, GRAFANA_PARAMS } from '../../deploy/grafana/build-dashboard.ts';
import { GATE_NAMES } from '../../core/gates/index.ts';
import { acceptanceByRelation, answerCheckFigures, callsSavedByEarlyExit, kcCoverage, noveltyRate, perAccepted, quantiles } from '../../core/report/index.ts';
import { AnalyticsError, clickhouseReport, readQueries, renderQuery, type ClickHouseReport } from '../../services/analytics/index.ts';
import { ClickHouseWriter } from '../../services/clickhouse-sink/index.ts';
import { migrate } from '../../services/clickhouse-sink/migrate.ts';
import { loadConfig, REPO_ROOT } from '../../services/runtime/config.ts';
import { BASE_MS, duplicates, JUDGE_NEW, JUDGE_OLD, syntheticData, writeSynthetic, type SyntheticData } from '../unit/analytics/synthetic.ts';

const database = `grip_test_${Date.now()}_${process.pid}`;
const emptyDatabase = `${database}_empty`;
// A model name of its own: the fake embedder's rows never mix with the real endpoint's (the CLI case).
const config = loadConfig({ ...process.env, CLICKHOUSE_DATABASE: database, GRIP_EMBEDDINGS_MODEL: 'fake-embeddings' });
const admin = createClient({ url: config.clickhouse.url, username: config.clickhouse.username, password: config.clickhouse.password });

// Two benchmarks; some accepted problems copy 9, 11 or 14 words of them (8-, 10- and 13-gram hits).
const BENCHMARKS: BenchmarkRecord[] = [
  { id: 'a1', source: 'bench-a', text: 'Let the sequence of positive integers be defined by the rule that each term doubles the previous one and then adds seven.' },
  { id: 'a2', source: 'bench-a', text: 'A bag holds four red marbles and six blue marbles and two are drawn without replacement at random.' },
  { id: 'b1', source: 'bench-b', text: 'Jenny buys three notebooks for two dollars each and a pen that costs one dollar more than a notebook.' },
];
const PLANTED = [
  'Let the sequence of positive integers be defined by the rule that each term doubles the previous one and then adds seven. Find the tenth term.',
  'A bag holds four red marbles and six blue marbles and two are drawn. What is the chance both are red?',
  'Jenny buys three notebooks for two dollars each and then sells them. How much did she earn?',
  'Suppose each term doubles the previous one and then adds seven; compute the fifth term if the first is 1.',
];
const index = createNgramIndex(BENCHMARKS);
const overlapOf = (problem: string) => index.check(problem).longestOverlap;

/** Deterministic unit vectors from character trigram counts: similar texts get similar vectors. */
function fakeVector(text: string): Float32Array {
  const v = new Float32Array(64);
  const t = text.toLowerCase();
  for (let i = 0; i + 3 <= t.length; i++) {
    let h = 0;
    for (let j = i; j < i + 3; j++) h = (h * 31 + t.charCodeAt(j)) >>> 0;
    v[h % 64]! += 1;
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}
let embedCalls = 0;
const fakeEmbedder = {
  embed: async (texts: string[]) => {
    embedCalls++;
    return texts.map(fakeVector);
  },
};
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

let data: SyntheticData;
let report: ClickHouseReport;

async function select<T>(query: string): Promise<T[]> {
  return (await admin.query({ query, format: 'JSONEachRow' })).json<T>();
}
const one = async (query: string) => Number(Object.values((await select<Record<string, unknown>>(query))[0]!)[0]);

beforeAll(async () => {
  await migrate(config.clickhouse);
  await migrate({ ...config.clickhouse, database: emptyDatabase });
  data = syntheticData({ overlapOf, planted: PLANTED });
  const writer = new ClickHouseWriter({ clickhouse: config.clickhouse, maxBatchWaitMs: 20 });
  try {
    await writeSynthetic(writer, data);
    await writeSynthetic(writer, duplicates(data)); // same ids again: FINAL must count them once
  } finally {
    await writer.close();
  }
  report = await clickhouseReport(config, { embedder: fakeEmbedder, benchmarks: BENCHMARKS });
}, 180_000);

afterAll(async () => {
  await admin.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await admin.command({ query: `DROP DATABASE IF EXISTS ${emptyDatabase}` });
  await admin.close();
});

const newVerdicts = () => data.verdicts.filter((v) => v.judge_config_version === JUDGE_NEW);
const acceptedNew = () => newVerdicts().filter((v) => v.accepted);
const J = (sql: string) => sql.replaceAll('{db}', database).replaceAll('{new}', `'${JUDGE_NEW}'`);

describe('clickhouseReport (real ClickHouse, synthetic pipeline data)', () => {
  it('the data set has duplicates (raw rows > FINAL rows) and a replayed judge config', async () => {
    expect(await one(J('SELECT count() FROM {db}.verdicts'))).toBeGreaterThan(data.verdicts.length);
    expect(await one(J('SELECT count() FROM {db}.verdicts FINAL'))).toBe(data.verdicts.length);
    expect(await one(J('SELECT count() FROM {db}.pairs'))).toBeGreaterThan(data.pairs.length);
    expect(data.verdicts.filter((v) => v.judge_config_version === JUDGE_OLD).length).toBe(20);
    expect(report.judge_configs.map((c) => c.judge_config_version)).toEqual([JUDGE_NEW, JUDGE_OLD]);
    expect(report.judge_config_version).toBe(JUDGE_NEW);
    expect(report.judge_config_rule).toBe('newest');
    expect(report.warnings.join('\n')).toMatch(/newest judge config j-new; 1 other/);
  });

  it('novelty rate: pairs FINAL, equal to a direct count and to core/report noveltyRate', async () => {
    const sql = await one(J('SELECT countIf(novel = 1) / count() FROM {db}.pairs FINAL'));
    expect(report.novelty_rate).toBeCloseTo(sql, 12);
    expect(report.novelty_rate).toBeCloseTo(noveltyRate(data.pairs)!, 12);
    expect(report.combinations.total).toBe(data.pairs.length);
    expect(report.novelty_over_time.reduce((s, p) => s + p.combinations, 0)).toBe(data.pairs.length);
    expect(report.novelty_over_time.reduce((s, p) => s + p.novel, 0)).toBe(data.pairs.filter((p) => p.novel).length);
    expect(report.novelty_over_time.length).toBeGreaterThan(5);
  });

  it('acceptance by relation and hop: newest judge config only, equal to SQL and to core/report', async () => {
    const rows = await select<{ relation: string; hop: number; n: string; acc: string; mean: number | null }>(
      J(`SELECT relation, hop, count() AS n, countIf(accepted = 1) AS acc, avgIf(problem_score, isNotNull(problem_score)) AS mean
         FROM {db}.verdicts FINAL WHERE judge_config_version = {new} GROUP BY relation, hop ORDER BY hop, relation`),
    );
    expect(report.acceptance_by_relation.map((a) => [a.relation, a.hop, a.count, a.accepted])).toEqual(rows.map((r) => [r.relation, r.hop, Number(r.n), Number(r.acc)]));
    const expected = acceptanceByRelation(newVerdicts());
    expect(report.acceptance_by_relation.length).toBe(expected.length);
    report.acceptance_by_relation.forEach((a, i) => {
      expect(a.relation).toBe(expected[i]!.relation);
      expect(a.count).toBe(expected[i]!.count);
      expect(a.accepted).toBe(expected[i]!.accepted);
      expect(a.acceptance_rate).toBeCloseTo(expected[i]!.acceptance_rate, 12);
      expect(a.mean_score).toBeCloseTo(expected[i]!.mean_score!, 9);
      expect(a.mean_score).toBeCloseTo(rows[i]!.mean!, 9);
    });
    expect(report.verdicts).toBe(newVerdicts().length);
    expect(report.accepted).toBe(acceptedNew().length);
  });

  it('quality gates and self-consistency: rejections per gate and agreement per relation and hop, equal to SQL and to core/report', async () => {
    const expected = answerCheckFigures(
      newVerdicts().map((v) => ({ relation: v.relation, hop: v.hop, reason: v.reason, verified: v.lineage.steps.some((s) => s.stage === 'verify'), count: 1, calls_saved: v.calls_saved })),
      GATE_NAMES,
      'self_consistency',
    );
    expect(report.answer_checks).toEqual(expected);
    const gateRows = await select<{ reason: string; n: string }>(J(`SELECT reason, count() AS n FROM {db}.verdicts FINAL WHERE judge_config_version = {new} AND startsWith(reason, 'gate:') GROUP BY reason`));
    expect(gateRows.length).toBeGreaterThan(2);
    for (const g of gateRows) expect(report.answer_checks.rejected_by_gate[g.reason.slice(5)], g.reason).toBe(Number(g.n));
    const checked = await one(J(`SELECT count() FROM {db}.verdicts FINAL WHERE judge_config_version = {new} AND has(lineage_stages, 'verify')`));
    const disagreed = await one(J(`SELECT count() FROM {db}.verdicts FINAL WHERE judge_config_version = {new} AND reason = 'self_consistency'`));
    expect(report.answer_checks.self_consistency.checked).toBe(checked);
    expect(report.answer_checks.self_consistency.agreed).toBe(checked - disagreed);
    expect(disagreed).toBeGreaterThan(0);
    expect(report.answer_checks.self_consistency.by_relation.length).toBeGreaterThan(1);
  });

  it('KC coverage and Gini: equal to direct counts and to core/report kcCoverage', async () => {
    const total = await one(J('SELECT uniqExact(kc) FROM (SELECT arrayJoin(kc_ids) AS kc FROM {db}.concepts FINAL UNION ALL SELECT arrayJoin(kc_ids) AS kc FROM {db}.verdicts FINAL WHERE accepted = 1 AND judge_config_version = {new})'));
    const used = await one(J('SELECT uniqExact(kc) FROM (SELECT arrayJoin(kc_ids) AS kc FROM {db}.verdicts FINAL WHERE accepted = 1 AND judge_config_version = {new})'));
    expect(report.kc_coverage.kcs_total).toBe(total);
    expect(report.kc_coverage.kcs_used).toBe(used);
    const expected = kcCoverage(data.concepts.flatMap((c) => c.kcs.map((k) => k.kc_id)), acceptedNew().map((v) => v.kc_ids));
    expect(report.kc_coverage.kcs_total).toBe(expected.kcs_total);
    expect(report.kc_coverage.share).toBeCloseTo(expected.share!, 12);
    expect(report.kc_coverage.gini).toBeCloseTo(expected.gini!, 12);
    // The SQL file's own Gini column (used by Grafana) agrees with core/report's gini().
    const sqlGini = await select<{ gini: number }>(`SELECT gini FROM (${renderQuery('kc_coverage', readQueries().kc_coverage, { db: database, judgeConfig: JUDGE_NEW })})`);
    expect(sqlGini[0]!.gini).toBeCloseTo(expected.gini!, 9);
  });

  it('seed similarity: backfilled once per accepted verdict and seed, max over seeds, quantiles as core/report', async () => {
    const seedProblem = new Map(data.seeds.map((s) => [s.seed_id, s.problem]));
    const expected = acceptedNew().map((v) => Math.max(...v.lineage.seed_ids.map((id) => dot(fakeVector(v.problem), fakeVector(seedProblem.get(id)!)))));
    const q = quantiles(expected);
    expect(report.seed_similarity!.n).toBe(acceptedNew().length);
    for (const key of ['min', 'p05', 'p25', 'p50', 'p75', 'p95', 'max', 'mean'] as const) expect(report.seed_similarity![key]).toBeCloseTo(q[key]!, 5);
    const pairs = acceptedNew().reduce((s, v) => s + v.lineage.seed_ids.length, 0);
    expect(await one(J("SELECT count() FROM {db}.seed_similarity FINAL WHERE model = 'fake-embeddings'"))).toBe(pairs);
    expect(report.seed_similarity_above_ceiling).toBe(expected.filter((x) => x > 0.9).length);
    expect(report.seed_similarity_histogram!.reduce((s, b) => s + b.count, 0)).toBe(expected.length);
    // A second report embeds nothing new: the rows are there.
    const calls = embedCalls;
    await clickhouseReport(config, { embedder: fakeEmbedder, benchmarks: BENCHMARKS });
    expect(embedCalls).toBe(calls);
  });

  it('contamination per benchmark and n equals core/decontam over the accepted problems, and the judge record agrees', async () => {
    const accepted = acceptedNew().map((v) => v.problem);
    expect(accepted.filter((p) => PLANTED.includes(p)).length).toBeGreaterThan(1);
    const rates = index.contaminationRates(accepted);
    for (const n of [8, 10, 13]) {
      expect(report.contamination!.all![String(n)]).toBeCloseTo(rates.overall.byN[n]!, 12);
      expect(report.contamination!['bench-a']![String(n)]).toBeCloseTo(rates.bySource['bench-a']!.byN[n]!, 12);
      expect(report.contamination!['bench-b']![String(n)]).toBeCloseTo(rates.bySource['bench-b']!.byN[n]!, 12);
      const sql = await one(J(`SELECT countIf(contamination_overlap >= ${n}) / count() FROM {db}.verdicts FINAL WHERE accepted = 1 AND judge_config_version = {new}`));
      expect(report.contamination_judge.by_n[String(n)]).toBeCloseTo(sql, 12);
      // The judge recorded the longest overlap with the same index: both definitions meet.
      expect(report.contamination_judge.by_n[String(n)]).toBeCloseTo(rates.overall.byN[n]!, 12);
    }
    expect(report.contamination!.all!['8']).toBeGreaterThan(0);
    expect(report.contamination!.all!.any).toBeCloseTo(rates.overall.any, 12);
  });

  it('calls and tokens per accepted pair count each lineage call once across tables; calls saved; accepted per minute', async () => {
    const calls = new Map<string, number>();
    for (const m of [...data.concepts, ...data.pairs, ...data.candidates, ...newVerdicts()]) {
      for (const s of m.lineage.steps) calls.set(s.call_id, (s.prompt_tokens ?? 0) + (s.completion_tokens ?? 0));
    }
    const tokens = [...calls.values()].reduce((a, b) => a + b, 0);
    const sqlCalls = await one(
      J(`SELECT uniqExact(c) FROM (
           SELECT arrayJoin(lineage_call_ids) AS c FROM {db}.concepts FINAL UNION ALL
           SELECT arrayJoin(lineage_call_ids) AS c FROM {db}.candidates FINAL UNION ALL
           SELECT arrayJoin(lineage_call_ids) AS c FROM {db}.verdicts FINAL WHERE judge_config_version = {new})`),
    );
    expect(report.llm.calls).toBe(calls.size);
    expect(report.llm.calls).toBe(sqlCalls);
    expect(report.llm.tokens).toBe(tokens);
    expect(report.calls_per_accepted).toBeCloseTo(perAccepted(calls.size, acceptedNew().length)!, 12);
    expect(report.tokens_per_accepted).toBeCloseTo(perAccepted(tokens, acceptedNew().length)!, 12);
    expect(report.calls_saved_early_exit).toBe(callsSavedByEarlyExit(newVerdicts()));
    expect(report.calls_saved_early_exit).toBe(await one(J('SELECT sum(calls_saved) FROM {db}.verdicts FINAL WHERE judge_config_version = {new}')));
    const span = await select<{ a: string; s: string }>(J('SELECT countIf(accepted = 1) AS a, toUInt32(max(created_at)) - toUInt32(min(created_at)) AS s FROM {db}.verdicts FINAL WHERE judge_config_version = {new}'));
    expect(report.accepted_per_minute).toBeCloseTo((Number(span[0]!.a) * 60) / Number(span[0]!.s), 9);
    expect(report.throughput.reduce((s, p) => s + p.accepted, 0)).toBe(acceptedNew().length);
  });

  it('DLQ counts and rates per stage (dead_letters FINAL)', async () => {
    const rows = await select<{ stage: string; n: string }>(J('SELECT stage, count() AS n FROM {db}.dead_letters FINAL GROUP BY stage ORDER BY stage'));
    expect(report.dlq_by_stage).toEqual(Object.fromEntries(rows.map((r) => [r.stage, Number(r.n)])));
    expect(report.dlq_by_stage).toEqual({ 'concept-extractor': 2, judge: 1, 'problem-synth': 3 });
    expect(report.dlq_rate_by_stage['problem-synth']).toBeCloseTo(3 / (3 + data.candidates.length), 12);
    expect(report.dlq_rate_by_stage['judge']).toBeCloseTo(1 / (1 + data.verdicts.length), 12);
  });

  it('figures for a requested judge config (the replay) use only its verdicts', async () => {
    const old = await clickhouseReport(config, { judgeConfig: JUDGE_OLD, embedder: fakeEmbedder, benchmarks: BENCHMARKS });
    const oldVerdicts = data.verdicts.filter((v) => v.judge_config_version === JUDGE_OLD);
    expect(old.judge_config_version).toBe(JUDGE_OLD);
    expect(old.judge_config_rule).toBe('requested');
    expect(old.verdicts).toBe(oldVerdicts.length);
    expect(old.accepted).toBe(oldVerdicts.filter((v) => v.accepted).length);
    expect(old.acceptance_by_relation.map((a) => [a.relation, a.count, a.accepted])).toEqual(acceptanceByRelation(oldVerdicts).map((a) => [a.relation, a.count, a.accepted]));
    expect(old.novelty_rate).toBe(report.novelty_rate); // combinations do not depend on the judge
  });

  it('an empty database gives an empty report (nulls and empty series), not an error', async () => {
    const empty = await clickhouseReport({ ...config, clickhouse: { ...config.clickhouse, database: emptyDatabase } }, { embedder: fakeEmbedder, benchmarks: BENCHMARKS });
    expect(empty.judge_config_version).toBeNull();
    expect(empty.novelty_rate).toBeNull();
    expect(empty.novelty_over_time).toEqual([]);
    expect(empty.acceptance_by_relation).toEqual([]);
    expect(empty.kc_coverage).toEqual({ kcs_total: 0, kcs_used: 0, share: null, gini: null });
    expect(empty.seed_similarity!.n).toBe(0);
    expect(empty.calls_per_accepted).toBeNull();
    expect(empty.dlq_by_stage).toEqual({});
  });

  it('embeddings endpoint down: similarity is null with a warning; the other figures are intact', async () => {
    const fresh = loadConfig({ ...process.env, CLICKHOUSE_DATABASE: database, GRIP_EMBEDDINGS_MODEL: 'model-never-embedded' });
    const down = await clickhouseReport(fresh, { embedder: { embed: async () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1')) }, benchmarks: BENCHMARKS });
    expect(down.seed_similarity).toBeNull();
    expect(down.seed_similarity_histogram).toBeNull();
    expect(down.warnings.join('\n')).toMatch(/seed similarity unavailable: embeddings endpoint .* failed \(connect ECONNREFUSED/);
    expect(down.novelty_rate).toBe(report.novelty_rate);
    expect(down.acceptance_by_relation).toEqual(report.acceptance_by_relation);
  });

  it('ClickHouse unreachable: an AnalyticsError naming the URL', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const closed = loadConfig({ ...process.env, CLICKHOUSE_URL: `http://127.0.0.1:${port}`, CLICKHOUSE_DATABASE: database });
    const error = await clickhouseReport(closed, { embedder: fakeEmbedder, benchmarks: BENCHMARKS }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AnalyticsError);
    expect((error as AnalyticsError).kind).toBe('unreachable');
    expect((error as Error).message).toContain(`ClickHouse unreachable at http://127.0.0.1:${port}`);
  });

  it('`grip report --from clickhouse --json` prints the same figures (real embeddings endpoint)', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(REPO_ROOT, 'bin', 'grip.mjs'), 'report', '--from', 'clickhouse', '--json'], {
      cwd: REPO_ROOT,
      env: { ...process.env, CLICKHOUSE_DATABASE: database },
      timeout: 110_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const json = JSON.parse(stdout) as ClickHouseReport;
    for (const key of ['novelty_rate', 'acceptance_by_relation', 'kc_coverage', 'seed_similarity', 'contamination', 'calls_per_accepted', 'tokens_per_accepted', 'calls_saved_early_exit', 'dlq_by_stage']) {
      expect(json, key).toHaveProperty(key);
    }
    expect(json.database).toBe(database);
    expect(json.judge_config_version).toBe(JUDGE_NEW);
    expect(json.novelty_rate).toBe(report.novelty_rate);
    expect(json.acceptance_by_relation).toEqual(report.acceptance_by_relation);
    expect(json.kc_coverage).toEqual(report.kc_coverage);
    expect(json.calls_per_accepted).toBe(report.calls_per_accepted);
    expect(json.dlq_by_stage).toEqual(report.dlq_by_stage);
    // The real embeddings model: its own rows, one per accepted verdict, cosines in [-1, 1].
    expect(json.seed_similarity_model).toBe(loadConfig().embeddings.model);
    expect(json.seed_similarity!.n).toBe(acceptedNew().length);
    expect(json.seed_similarity!.max!).toBeLessThanOrEqual(1.000001);
    expect(Object.keys(json.contamination ?? {})).toContain('all');
    expect(new Date(json.generated_at).getTime()).toBeGreaterThan(BASE_MS);
  });

  it('every Grafana panel (deploy/grafana) runs on this ClickHouse and returns rows (after the CLI case, which filled the compose model\'s similarity rows)', async () => {
    const dashboard = JSON.parse(fs.readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ rawSql: string }> }> };
    for (const panel of dashboard.panels) {
      const sql = panel.targets[0]!.rawSql
        .replace(new RegExp(`\\b${GRAFANA_PARAMS.db}\\.`, 'g'), `${database}.`)
        .replaceAll(`'${GRAFANA_PARAMS.embeddingsModel}'`, `'${loadConfig().embeddings.model}'`);
      const rows = await select<Record<string, unknown>>(sql);
      expect(rows.length, panel.title).toBeGreaterThan(0);
    }
  });
});
