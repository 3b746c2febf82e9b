/**
 * Builds deploy/grafana/dashboards/grip-analytics.json from the analytics queries in
 * deploy/clickhouse/analytics/, so the Grafana panels run the very SQL that `grip report --from
 * clickhouse` and the dashboard service run (placeholders filled for the compose stack: database
 * `grip`, the newest judge config, 60 s buckets, the compose embeddings model).
 *
 *   npx tsx deploy/grafana/build-dashboard.ts          # rewrite the JSON
 *   npx tsx deploy/grafana/build-dashboard.ts --check  # exit 1 if the JSON is out of date
 * test/unit/compose.test.ts fails when the JSON and the SQL files disagree.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readQueries, renderQuery, type QueryName } from '../../services/analytics/queries.ts';

export const DASHBOARD_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dashboards', 'grip-analytics.json');
/** What the compose stack uses: CLICKHOUSE_DATABASE and GRIP_EMBEDDINGS_MODEL of docker-compose.yml. */
export const GRAFANA_PARAMS = { db: 'grip', bucketSeconds: 60, embeddingsModel: 'local-embeddings' };

const CLICKHOUSE = { type: 'grafana-clickhouse-datasource', uid: 'grip-clickhouse' };
const PAPER_COLOR = 'orange';

interface PanelSpec {
  title: string;
  description: string;
  type: 'timeseries' | 'barchart' | 'stat' | 'histogram' | 'table';
  query: QueryName;
  /** 0: time series, 1: table (the plugin's `format`). */
  format: 0 | 1;
  unit?: string;
  min?: number;
  max?: number;
  /** Reference values of the paper, drawn as threshold lines. */
  reference?: number[];
  options?: Record<string, unknown>;
  /** Columns to hide from the panel. */
  hide?: string[];
}

export const PANELS: PanelSpec[] = [
  { title: 'Novelty rate over time', description: 'Share of combinations (pairs) whose KCs never co-occurred in one seed, per minute. Paper: 71.8% (line).', type: 'timeseries', query: 'novelty_over_time', format: 0, unit: 'percentunit', min: 0, max: 1, reference: [0.718], hide: ['t', 'combinations', 'novel_combinations'] },
  { title: 'Acceptance rate and mean problem score by relation and hop', description: 'Newest judge config. Paper, mean score: 1-hop 0.94, 2-hop 0.72, 3-hop 0.62.', type: 'barchart', query: 'acceptance_by_relation', format: 1, min: 0, max: 1, hide: ['hop', 'judged', 'accepted_count', 'scored'], options: { xField: 'relation' } },
  { title: 'KC coverage and Gini', description: 'KCs used by accepted pairs / all KCs, and the Gini coefficient of per-KC usage (0 = even).', type: 'stat', query: 'kc_coverage', format: 1, hide: ['usage_counts', 'kcs_total', 'kcs_used'] },
  { title: 'Similarity of accepted problems to their seeds', description: 'Highest cosine to a lineage seed per accepted problem. Paper: 0.55-0.65, none above 0.9. Rows are computed by `grip report --from clickhouse` or the dashboard service (embeddings backfill); Grafana only reads them.', type: 'histogram', query: 'seed_similarity', format: 1, min: 0, max: 1, reference: [0.55, 0.65, 0.9], hide: ['verdict_id'] },
  { title: 'Contamination (judge record): n-gram overlap of accepted problems', description: 'Share of accepted problems whose longest word overlap with a benchmark item is at least 8 / 10 / 13 words. Per-benchmark shares: `grip report --from clickhouse`. Paper (MATH test): 1.94% / 0.63% / 0.06%.', type: 'stat', query: 'contamination_judge', format: 1, unit: 'percentunit', hide: ['accepted_count', 'overlap_8', 'overlap_10', 'overlap_13'] },
  { title: 'Throughput: accepted pairs per minute', description: 'Accepted verdicts of the newest judge config per minute.', type: 'timeseries', query: 'throughput', format: 0, hide: ['t', 'judged', 'accepted_count'] },
  { title: 'Cost per accepted pair', description: 'LLM calls (each lineage call once) and tokens per accepted pair; judge calls saved by early exit.', type: 'stat', query: 'cost', format: 1, hide: ['span_seconds', 'accepted_count'] },
  { title: 'Dead letters per stage', description: 'DLQ records per stage, and dead letters / (dead letters + rows the stage produced).', type: 'barchart', query: 'dlq_by_stage', format: 1, hide: ['produced'], options: { xField: 'stage' } },
];

function panel(spec: PanelSpec, sql: string, i: number) {
  const steps = [{ color: 'green', value: null as number | null }, ...(spec.reference ?? []).map((value) => ({ color: PAPER_COLOR, value }))];
  return {
    id: i + 1,
    type: spec.type,
    title: spec.title,
    description: spec.description,
    datasource: CLICKHOUSE,
    gridPos: { h: 9, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 9 },
    fieldConfig: {
      defaults: {
        ...(spec.unit ? { unit: spec.unit } : {}),
        ...(spec.min !== undefined ? { min: spec.min } : {}),
        ...(spec.max !== undefined ? { max: spec.max } : {}),
        thresholds: { mode: 'absolute', steps },
        ...(spec.reference ? { custom: { thresholdsStyle: { mode: 'line' } } } : {}),
      },
      overrides: (spec.hide ?? []).map((name) => ({ matcher: { id: 'byName', options: name }, properties: [{ id: 'custom.hideFrom', value: { viz: true, legend: true, tooltip: false } }] })),
    },
    options: spec.options ?? {},
    targets: [{ refId: 'A', datasource: CLICKHOUSE, editorType: 'sql', queryType: spec.format === 0 ? 'timeseries' : 'table', format: spec.format, rawSql: sql }],
  };
}

export function buildDashboard(queries = readQueries()) {
  return {
    uid: 'grip-analytics',
    title: 'GRIP pipeline: diversity, novelty and cost',
    description: 'Generated by deploy/grafana/build-dashboard.ts from deploy/clickhouse/analytics/*.sql; do not edit by hand.',
    tags: ['grip'],
    timezone: 'utc',
    schemaVersion: 39,
    refresh: '10s',
    time: { from: 'now-6h', to: 'now' },
    editable: false,
    panels: PANELS.map((spec, i) => panel(spec, renderQuery(spec.query, queries[spec.query], GRAFANA_PARAMS), i)),
  };
}

export function dashboardJson(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const json = dashboardJson();
  if (process.argv.includes('--check')) {
    const current = fs.existsSync(DASHBOARD_FILE) ? fs.readFileSync(DASHBOARD_FILE, 'utf8') : '';
    if (current !== json) {
      process.stderr.write(`${DASHBOARD_FILE} is out of date: run npx tsx deploy/grafana/build-dashboard.ts\n`);
      process.exit(1);
    }
  } else {
    fs.writeFileSync(DASHBOARD_FILE, json);
    process.stdout.write(`wrote ${DASHBOARD_FILE} (${PANELS.length} panels)\n`);
  }
}
