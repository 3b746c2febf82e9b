/**
 * The terminal rendering of `grip report --from clickhouse`: every figure appears with the paper's
 * value beside it, missing figures read "n/a" or say why, and warnings are shown.
 */
import { describe, expect, it } from 'vitest';
import { renderClickHouseReport } from '../../../cli/report-clickhouse.ts';
import { quantiles } from '../../../core/report/index.ts';
import { PAPER } from '../../../services/analytics/map.ts';
import type { ClickHouseReport } from '../../../services/analytics/report.ts';

const report: ClickHouseReport = {
  source: 'clickhouse',
  database: 'grip',
  generated_at: '2026-12-01T00:00:00.000Z',
  judge_config_version: 'j-new',
  judge_config_rule: 'newest',
  judge_configs: [
    { judge_config_version: 'j-new', verdicts: 10, accepted: 7, first_at: '', last_at: '' },
    { judge_config_version: 'j-old', verdicts: 3, accepted: 1, first_at: '', last_at: '' },
  ],
  combinations: { total: 20, novel: 15, by_relation: { '1-hop': 5, '2-hop': 15 } },
  novelty_rate: 0.75,
  bucket_seconds: 60,
  novelty_over_time: [{ t: 0, combinations: 20, novel: 15, novelty_rate: 0.75 }],
  verdicts: 10,
  accepted: 7,
  acceptance_rate: 0.7,
  acceptance_by_relation: [{ relation: '2-hop', hop: 2, count: 10, accepted: 7, acceptance_rate: 0.7, mean_score: 0.81 }],
  answer_checks: {
    rejected_by_gate: { length: 1, leftover: 2, repetition: 0 },
    judge_calls_saved_by_checks: 24,
    self_consistency: { checked: 8, agreed: 7, agreement_rate: 0.875, by_relation: [{ relation: '2-hop', hop: 2, checked: 8, agreed: 7, agreement_rate: 0.875 }] },
  },
  kc_coverage: { kcs_total: 40, kcs_used: 10, share: 0.25, gini: 0.6 },
  kc_usage_lorenz: [],
  seed_similarity: quantiles([0.5, 0.6, 0.7]),
  seed_similarity_above_ceiling: 0,
  seed_similarity_histogram: [],
  seed_similarity_model: 'local-embeddings',
  contamination: { all: { 8: 0.1, 10: 0, 13: 0, any: 0.1 }, math: { 8: 0.1, 10: 0, 13: 0, any: 0.1 } },
  contamination_judge: { accepted: 7, by_n: { 8: 0.1, 10: 0, 13: 0 } },
  calls_per_accepted: 12.5,
  tokens_per_accepted: 3000,
  calls_saved_early_exit: 4,
  llm: { calls: 88, tokens: 21000 },
  accepted_per_minute: 2.5,
  throughput: [],
  dlq_by_stage: { judge: 1 },
  dlq_rate_by_stage: { judge: 0.05 },
  paper: PAPER,
  warnings: ['verdict figures are for the newest judge config j-new; 1 other config(s) in judge_configs'],
};

describe('renderClickHouseReport', () => {
  it('shows every figure with the paper beside it', () => {
    const text = renderClickHouseReport(report);
    for (const line of [
      'Judge config: j-new (newest; others: j-old)',
      'Novelty rate: 75.0% (paper: 71.8%)',
      'Verdicts: 10, accepted 7 (70.0%)',
      /2-hop\s+2\s+10\s+7\s+70\.0%\s+0\.81/,
      'KC coverage: 10 of 40 KCs used by accepted pairs (25.0%), Gini 0.60',
      'median 0.60',
      /math\s+10\.0%\s+0\.0%\s+0\.0%\s+10\.0%/,
      'Throughput: 2.50 accepted pairs per minute',
      'per accepted pair 12.5 calls, 3000 tokens',
      'Judge calls saved by early exit: 4',
      'Quality gates, pairs rejected before judging: length 1, leftover 2, repetition 0 (total 3).',
      'Judge calls saved by the gates and the self-consistency check: 24.',
      'Self-consistency (an independent second solve must agree): 7 of 8 agreed (87.5%); per relation and hop: 2-hop hop 2 7/8 (87.5%).',
      'DLQ: judge 1 (5.0%)',
      'warning: verdict figures are for the newest judge config',
    ]) {
      expect(text).toMatch(line);
    }
  });

  it('says n/a or why when a figure is missing', () => {
    const text = renderClickHouseReport({ ...report, judge_config_version: null, novelty_rate: null, acceptance_by_relation: [], seed_similarity: null, contamination: null, dlq_by_stage: {} });
    expect(text).toMatch('Judge config: none yet (no verdicts)');
    expect(text).toMatch('Novelty rate: n/a');
    expect(text).toMatch('(no verdicts yet)');
    expect(text).toMatch('Similarity to seeds: unavailable (see warnings)');
    expect(text).toMatch('(no benchmark sets found; see warnings)');
    expect(text).toMatch('DLQ: none');
  });
});
