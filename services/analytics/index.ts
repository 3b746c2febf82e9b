/**
 * analytics: the pipeline's figures read from ClickHouse (issue 6).
 * - deploy/clickhouse/analytics/*.sql: one query per figure (also used by deploy/grafana).
 * - queries.ts: reads and fills the queries ({db}, {judge_config}, ...).
 * - map.ts: pure rows -> figures (core/report for the math where rows come back as arrays).
 * - similarity.ts: backfill of seed_similarity through the embeddings endpoint.
 * - report.ts: clickhouseReport / createAnalytics, the runner that `grip report --from clickhouse`
 *   and the dashboard use.
 */
export { AnalyticsError, classifyError, clickhouseReport, createAnalytics, type Analytics, type AnalyticsOptions, type ClickHouseReport } from './report.ts';
export { ANALYTICS_DIR, NEWEST_JUDGE_CONFIG, QUERY_NAMES, readQueries, renderQuery, stripSql, tablesOf, type QueryName } from './queries.ts';
export { PAPER } from './map.ts';
export { backfillSeedSimilarity, EmbeddingsUnavailableError, type Embedder } from './similarity.ts';
