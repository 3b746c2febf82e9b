/**
 * The analytics queries: one SQL file per figure in deploy/clickhouse/analytics/, shared by
 * `grip report --from clickhouse`, the dashboard and the Grafana dashboard (deploy/grafana), so a
 * figure has one SQL definition. Placeholders are filled here, client-side, because ClickHouse 18.16
 * has no server-side query parameters:
 *   {db}               database name (an identifier, validated)
 *   {judge_config}     a quoted judge_config_version, or NEWEST_JUDGE_CONFIG (a scalar subquery)
 *   {bucket_seconds}   time bucket of the time series, a positive integer
 *   {embeddings_model} a quoted embeddings model name
 *   {limit}            a row limit, a positive integer
 * Values are validated or quoted, never spliced raw. renderQuery is pure; readQueries reads the folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../runtime/config.ts';

export const ANALYTICS_DIR = path.join(REPO_ROOT, 'deploy', 'clickhouse', 'analytics');

export const QUERY_NAMES = [
  'judge_configs',
  'novelty_overall',
  'novelty_over_time',
  'acceptance_by_relation',
  'answer_checks',
  'kc_coverage',
  'seed_similarity',
  'contamination_judge',
  'accepted_problems',
  'throughput',
  'cost',
  'dlq_by_stage',
  'time_span',
  'backfill_missing_similarity',
] as const;
export type QueryName = (typeof QUERY_NAMES)[number];
export type Queries = Record<QueryName, string>;

export interface QueryParams {
  db: string;
  /** A judge_config_version, or undefined for the newest config (NEWEST_JUDGE_CONFIG). */
  judgeConfig?: string;
  bucketSeconds?: number;
  embeddingsModel?: string;
  limit?: number;
}

export class AnalyticsQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AnalyticsQueryError';
  }
}

const IDENTIFIER_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PLACEHOLDER_RE = /\{([a-z_]+)\}/g;

/**
 * The judge config that figures use by default: the one whose first verdict is the most recent,
 * i.e. the config introduced last. Stable while older configs keep writing (a replay or a live
 * judge), unlike "the config of the latest verdict". '' when there are no verdicts.
 */
export const NEWEST_JUDGE_CONFIG =
  '(SELECT argMax(judge_config_version, first_version) FROM (SELECT judge_config_version, min(version) AS first_version FROM {db}.verdicts FINAL GROUP BY judge_config_version))';

/** A ClickHouse string literal: backslash and quote escaped, so any text is safe inside it. */
export function sqlString(value: string): string {
  if (typeof value !== 'string') throw new AnalyticsQueryError(`expected a string for a SQL literal, got ${typeof value}`);
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Whole-line `--` comments and a trailing `;` removed: the client appends its own FORMAT clause. */
export function stripSql(sql: string): string {
  return sql
    .replace(/\r\n/g, '\n')
    .split('\n')
    .filter((line) => !/^\s*--/.test(line))
    .join('\n')
    .trim()
    .replace(/;\s*$/, '');
}

/** Fills the placeholders of one query; a placeholder without a value is an error naming it. */
export function renderQuery(name: string, sql: string, params: QueryParams): string {
  if (!IDENTIFIER_RE.test(params.db)) throw new AnalyticsQueryError(`database name must be an identifier, got ${JSON.stringify(params.db)}`);
  const judge = params.judgeConfig === undefined ? NEWEST_JUDGE_CONFIG : sqlString(params.judgeConfig);
  const values: Record<string, () => string> = {
    db: () => params.db,
    judge_config: () => judge.replaceAll('{db}', params.db),
    bucket_seconds: () => positiveInteger(name, 'bucketSeconds', params.bucketSeconds),
    limit: () => positiveInteger(name, 'limit', params.limit),
    embeddings_model: () => {
      if (params.embeddingsModel === undefined) throw new AnalyticsQueryError(`${name}: needs embeddingsModel`);
      return sqlString(params.embeddingsModel);
    },
  };
  return stripSql(sql).replace(PLACEHOLDER_RE, (whole, key: string) => {
    const value = values[key];
    if (!value) throw new AnalyticsQueryError(`${name}: unknown placeholder ${whole}`);
    return value();
  });
}

function positiveInteger(query: string, field: string, value: number | undefined): string {
  if (value === undefined) throw new AnalyticsQueryError(`${query}: needs ${field}`);
  if (!Number.isInteger(value) || value < 1) throw new AnalyticsQueryError(`${query}: ${field} must be a positive integer, got ${value}`);
  return String(value);
}

/** Reads every query file; a missing one is an error naming it. */
export function readQueries(dir: string = ANALYTICS_DIR): Queries {
  const out = {} as Queries;
  for (const name of QUERY_NAMES) {
    const file = path.join(dir, `${name}.sql`);
    if (!fs.existsSync(file)) throw new AnalyticsQueryError(`analytics query ${file} is missing`);
    out[name] = fs.readFileSync(file, 'utf8');
  }
  return out;
}

/** Tables a query reads (`{db}.name`), for checks that every query names existing tables. */
export function tablesOf(sql: string): string[] {
  return [...new Set([...sql.matchAll(/\{db\}\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!))].sort();
}
