/**
 * `clickhouseReport`: the figures of issue 6 read from the pipeline's ClickHouse tables, as JSON with
 * RunReport's keys and shapes where RunReport has them (novelty_rate, acceptance_by_relation,
 * kc_coverage, seed_similarity, contamination, calls_per_accepted, tokens_per_accepted,
 * calls_saved_early_exit, dlq_by_stage), plus what only a live pipeline has (time series, judge
 * configs, DLQ rates). A thin runner: the SQL is in deploy/clickhouse/analytics/, the math in
 * map.ts / core/report / core/decontam.
 *
 * Judge configs: a verdict replayed with another judge config is another row (another
 * judge_config_version). Figures that depend on verdicts are for ONE config: the newest (the one
 * whose first verdict is the most recent) unless `judgeConfig` names one; the report says which in
 * `judge_config_version` and lists every config in `judge_configs`. Mixing configs would count a
 * candidate twice and blend two acceptance rules.
 *
 * Seed similarity: before reading, accepted problems without a seed_similarity row are embedded
 * (backfill). If the embeddings endpoint is down, similarity figures are null and a warning says
 * why; the rest of the report is unaffected. Contamination per benchmark and n is computed here with
 * core/decontam over the accepted problems (ClickHouse does not hold the benchmark texts); the
 * judge's own record (longest overlap per verdict) is in `contamination_judge`.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { createNgramIndex, type BenchmarkRecord, type NgramIndex } from '../../core/decontam/index.ts';
import { contaminationTable, type AcceptanceRow, type AnswerCheckFigures, type KcCoverage, type Quantiles } from '../../core/report/index.ts';
import { defaultBenchmarks, loadDecontamination, type BenchmarkSpec } from '../runtime/benchmarks.ts';
import type { GripConfig } from '../runtime/config.ts';
import { EmbeddingsClient } from '../runtime/embeddings.ts';
import {
  acceptanceRows,
  answerCheckFiguresFrom,
  bucketSecondsFor,
  combinationsFigures,
  contaminationJudge,
  costFigures,
  dlqFigures,
  judgeConfigs,
  kcCoverageFromCounts,
  noveltyOverTime,
  num,
  PAPER,
  similarityFigures,
  throughputSeries,
  type JudgeConfigRow,
  type NoveltyPoint,
  type Row,
  type ThroughputPoint,
} from './map.ts';
import { readQueries, renderQuery, type Queries, type QueryName, type QueryParams } from './queries.ts';
import { backfillSeedSimilarity, EmbeddingsUnavailableError, type Embedder } from './similarity.ts';

export interface ClickHouseReport {
  source: 'clickhouse';
  database: string;
  generated_at: string;
  /** The judge config the verdict figures are for; null when there are no verdicts yet. */
  judge_config_version: string | null;
  /** How it was chosen: the newest config, or the one asked for. */
  judge_config_rule: 'newest' | 'requested';
  judge_configs: JudgeConfigRow[];
  combinations: { total: number; novel: number; by_relation: Record<string, number> };
  novelty_rate: number | null;
  bucket_seconds: number;
  novelty_over_time: NoveltyPoint[];
  verdicts: number;
  accepted: number;
  acceptance_rate: number | null;
  acceptance_by_relation: AcceptanceRow[];
  /** Quality gates (pairs rejected per gate) and the self-consistency agreement rate, per relation and hop. */
  answer_checks: AnswerCheckFigures;
  kc_coverage: KcCoverage;
  /** Lorenz curve of per-KC usage in accepted data, [share of KCs, share of uses]. */
  kc_usage_lorenz: Array<[number, number]>;
  /** Null when the embeddings endpoint was needed and unreachable (see warnings). */
  seed_similarity: Quantiles | null;
  seed_similarity_above_ceiling: number | null;
  seed_similarity_histogram: Array<{ lo: number; hi: number; count: number }> | null;
  seed_similarity_model: string;
  /** Share of accepted problems with an n-gram overlap, per benchmark and n ("any" = any n); null without benchmark sets. */
  contamination: Record<string, Record<string, number>> | null;
  /** The judge's record: share of accepted problems whose longest overlap is >= n words. */
  contamination_judge: { accepted: number; by_n: Record<string, number | null> };
  calls_per_accepted: number | null;
  tokens_per_accepted: number | null;
  calls_saved_early_exit: number;
  llm: { calls: number; tokens: number };
  accepted_per_minute: number | null;
  throughput: ThroughputPoint[];
  dlq_by_stage: Record<string, number>;
  dlq_rate_by_stage: Record<string, number | null>;
  paper: typeof PAPER;
  warnings: string[];
}

export interface AnalyticsOptions {
  /** Figures for this judge_config_version instead of the newest. */
  judgeConfig?: string;
  /** Benchmark items for the contamination figures; default: the default sets that exist on disk. */
  benchmarks?: BenchmarkRecord[];
  benchmarkSpecs?: BenchmarkSpec[];
  /** Embeddings for the similarity backfill; default: an EmbeddingsClient on config.embeddings. */
  embedder?: Embedder;
  /** Skip the similarity backfill (read what is there). */
  backfill?: boolean;
  /** Reuse the contamination figures for this long before checking the accepted problems again (dashboard). */
  contaminationTtlMs?: number;
  queriesDir?: string;
  requestTimeoutMs?: number;
  now?: () => number;
}

export type AnalyticsErrorKind = 'unreachable' | 'schema' | 'query';

export class AnalyticsError extends Error {
  constructor(
    message: string,
    readonly kind: AnalyticsErrorKind,
  ) {
    super(message);
    this.name = 'AnalyticsError';
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'UND_ERR_SOCKET']);

/** Turns a client error into one that names what is wrong: unreachable server, missing schema, or a failed query. */
export function classifyError(error: unknown, url: string, database: string, query: string): AnalyticsError {
  if (error instanceof AnalyticsError) return error;
  const e = error as { code?: unknown; message?: string; cause?: { code?: unknown } };
  const message = (e?.message ?? String(error)).trim().split('\n')[0]!;
  const code = typeof e?.code === 'string' ? e.code : typeof e?.cause?.code === 'string' ? e.cause.code : '';
  if (NETWORK_CODES.has(code) || /ECONNREFUSED|socket hang up|Timeout error|other side closed|connect E/i.test(message)) {
    return new AnalyticsError(`ClickHouse unreachable at ${url}: ${message || code}`, 'unreachable');
  }
  const missing = /Code: (60|81)[.,]/.exec(message);
  if (missing) {
    const what = missing[1] === '81' ? `database ${database} does not exist` : `a table is missing in ${database}`;
    return new AnalyticsError(`ClickHouse ${what} (${message}): run \`grip db migrate\` with CLICKHOUSE_DATABASE=${database}`, 'schema');
  }
  return new AnalyticsError(`ClickHouse query ${query} failed: ${message}`, 'query');
}

export interface Analytics {
  report(): Promise<ClickHouseReport>;
  close(): Promise<void>;
}

/** A long-lived report source (the dashboard keeps one): holds the client, benchmark index and caches. */
export function createAnalytics(config: GripConfig, opts: AnalyticsOptions = {}): Analytics {
  const settings = config.clickhouse;
  const db = settings.database;
  const now = opts.now ?? Date.now;
  const queries: Queries = readQueries(opts.queriesDir);
  const client: ClickHouseClient = createClient({
    url: settings.url,
    username: settings.username,
    password: settings.password,
    request_timeout: opts.requestTimeoutMs ?? 30_000,
    log: { level: ClickHouseLogLevel.OFF }, // failures come back as AnalyticsError naming the query
  });
  const embedder: Embedder = opts.embedder ?? new EmbeddingsClient({ endpoint: config.embeddings, maxRetries: 1, timeoutMs: 20_000, cacheEntries: 2000 }) // results live in seed_similarity; no need for a big in-memory cache;
  let index: Promise<{ index: NgramIndex | null; warning?: string }> | undefined;
  let contaminationCache: { at: number; judgeConfig: string; value: Record<string, Record<string, number>> } | undefined;

  async function rows(name: QueryName, params: Omit<QueryParams, 'db'> = {}): Promise<Row[]> {
    const sql = renderQuery(name, queries[name], { db, ...params });
    try {
      return await (await client.query({ query: sql, format: 'JSONEachRow' })).json<Row>();
    } catch (error) {
      throw classifyError(error, settings.url, db, name);
    }
  }

  function benchmarkIndex() {
    index ??= (async () => {
      if (opts.benchmarks) return { index: createNgramIndex(opts.benchmarks) };
      try {
        return { index: await loadDecontamination({ benchmarks: opts.benchmarkSpecs ?? defaultBenchmarks() }) };
      } catch (error) {
        // The report still has every other figure; contamination says why it is missing.
        return { index: null, warning: `decontamination sets could not be read: ${(error as Error).message}` };
      }
    })();
    return index;
  }

  async function contamination(judgeConfig: string, warnings: string[]) {
    const { index: idx, warning } = await benchmarkIndex();
    if (warning) warnings.push(warning);
    if (!idx) return null;
    const ttl = opts.contaminationTtlMs ?? 0;
    if (contaminationCache && contaminationCache.judgeConfig === judgeConfig && now() - contaminationCache.at < ttl) return contaminationCache.value;
    const problems = await rows('accepted_problems', { judgeConfig });
    const value = contaminationTable(idx.contaminationRates(problems.map((p) => String(p.problem))));
    contaminationCache = { at: now(), judgeConfig, value };
    return value;
  }

  async function similarity(judgeConfig: string, warnings: string[]) {
    const model = config.embeddings.model;
    if (opts.backfill !== false && judgeConfig !== '') {
      try {
        const { more } = await backfillSeedSimilarity(client, queries, embedder, { db, judgeConfig, model, now });
        if (more) warnings.push('seed similarity: more accepted problems remain to embed; figures cover those done so far');
      } catch (error) {
        if (!(error instanceof EmbeddingsUnavailableError)) throw classifyError(error, settings.url, db, 'backfill_missing_similarity');
        warnings.push(`seed similarity unavailable: embeddings endpoint ${config.embeddings.baseUrl} failed (${error.message})`);
        return { ...similarityFigures([]), seed_similarity: null, seed_similarity_histogram: null, seed_similarity_above_ceiling: null };
      }
    }
    const values = (await rows('seed_similarity', { judgeConfig, embeddingsModel: model })).map((r) => num(r.similarity_to_seed)).filter((v): v is number => v !== null);
    return similarityFigures(values);
  }

  async function report(): Promise<ClickHouseReport> {
    const warnings: string[] = [];
    const configs = judgeConfigs(await rows('judge_configs'));
    let judgeConfig: string;
    if (opts.judgeConfig !== undefined) {
      judgeConfig = opts.judgeConfig;
      if (!configs.some((c) => c.judge_config_version === judgeConfig)) {
        warnings.push(`judge config ${judgeConfig} has no verdicts (known: ${configs.map((c) => c.judge_config_version).join(', ') || 'none'})`);
      }
    } else {
      judgeConfig = configs[0]?.judge_config_version ?? '';
      if (configs.length > 1) warnings.push(`verdict figures are for the newest judge config ${judgeConfig}; ${configs.length - 1} other config(s) in judge_configs`);
    }
    const span = (await rows('time_span'))[0];
    const spanSeconds = Math.max(0, (num(span?.last_at) ?? 0) - (num(span?.first_at) ?? 0));
    const bucketSeconds = bucketSecondsFor(spanSeconds);
    const p = { judgeConfig };
    const [novelty, noveltySeries, acceptance, kc, judgeContamination, throughput, cost, dlq, checks] = await Promise.all([
      rows('novelty_overall'),
      rows('novelty_over_time', { bucketSeconds }),
      rows('acceptance_by_relation', p),
      rows('kc_coverage', p),
      rows('contamination_judge', p),
      rows('throughput', { ...p, bucketSeconds }),
      rows('cost', p),
      rows('dlq_by_stage'),
      rows('answer_checks', p),
    ]);
    const sim = await similarity(judgeConfig, warnings);
    const contaminationFigures = await contamination(judgeConfig, warnings);
    const combos = combinationsFigures(novelty);
    const byRelation = acceptanceRows(acceptance);
    const verdicts = byRelation.reduce((s, r) => s + r.count, 0);
    const accepted = byRelation.reduce((s, r) => s + r.accepted, 0);
    const coverage = kcCoverageFromCounts((kc[0]?.usage_counts as unknown[]) ?? []);
    const costs = costFigures(cost[0]);
    const { lorenz, ...kcFigures } = coverage;
    return {
      source: 'clickhouse',
      database: db,
      generated_at: new Date(now()).toISOString(),
      judge_config_version: configs.length === 0 && opts.judgeConfig === undefined ? null : judgeConfig,
      judge_config_rule: opts.judgeConfig === undefined ? 'newest' : 'requested',
      judge_configs: configs,
      combinations: { total: combos.total, novel: combos.novel, by_relation: combos.by_relation },
      novelty_rate: combos.novelty_rate,
      bucket_seconds: bucketSeconds,
      novelty_over_time: noveltyOverTime(noveltySeries),
      verdicts,
      accepted,
      acceptance_rate: verdicts === 0 ? null : accepted / verdicts,
      acceptance_by_relation: byRelation,
      answer_checks: answerCheckFiguresFrom(checks),
      kc_coverage: kcFigures,
      kc_usage_lorenz: lorenz,
      seed_similarity: sim.seed_similarity,
      seed_similarity_above_ceiling: sim.seed_similarity_above_ceiling,
      seed_similarity_histogram: sim.seed_similarity_histogram,
      seed_similarity_model: config.embeddings.model,
      contamination: contaminationFigures,
      contamination_judge: contaminationJudge(judgeContamination[0]),
      calls_per_accepted: costs.calls_per_accepted,
      tokens_per_accepted: costs.tokens_per_accepted,
      calls_saved_early_exit: costs.calls_saved_early_exit,
      llm: costs.llm,
      accepted_per_minute: costs.accepted_per_minute,
      throughput: throughputSeries(throughput),
      ...dlqFigures(dlq),
      paper: PAPER,
      warnings,
    };
  }

  return { report, close: () => client.close() };
}

/** One report: connects, backfills similarity, reads every figure, closes. */
export async function clickhouseReport(config: GripConfig, opts: AnalyticsOptions = {}): Promise<ClickHouseReport> {
  const analytics = createAnalytics(config, opts);
  try {
    return await analytics.report();
  } finally {
    await analytics.close();
  }
}
