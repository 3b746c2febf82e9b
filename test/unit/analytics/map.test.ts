/**
 * Rows -> figures: the mapping reuses core/report, so a figure computed from ClickHouse's arrays
 * equals the `grip run` definition over the same data; and the synthetic data set the integration
 * tests use has the properties they rely on.
 */
import { describe, expect, it } from 'vitest';
import { acceptanceByRelation, contaminationTable, kcCoverage, quantiles } from '../../../core/report/index.ts';
import { createNgramIndex } from '../../../core/decontam/index.ts';
import { acceptanceRows, bucketSecondsFor, combinationsFigures, costFigures, dlqFigures, kcCoverageFromCounts, lorenz, num, similarityFigures } from '../../../services/analytics/map.ts';
import { duplicates, JUDGE_NEW, JUDGE_OLD, syntheticData } from './synthetic.ts';

describe('analytics mapping', () => {
  it('reads ClickHouse JSON numbers (64-bit integers come as strings) and keeps null as null', () => {
    expect(num('42')).toBe(42);
    expect(num(0.5)).toBe(0.5);
    expect(num(null)).toBeNull();
    expect(num('nan')).toBeNull();
  });

  it('KC coverage from per-KC usage counts equals core/report kcCoverage over the same usage', () => {
    const all = ['a', 'b', 'c', 'd', 'e'];
    const accepted = [['a', 'b'], ['a'], ['a', 'c'], ['a']];
    const counts = all.map((id) => accepted.filter((l) => l.includes(id)).length);
    const { lorenz: curve, ...figures } = kcCoverageFromCounts(counts.map(String));
    expect(figures).toEqual(kcCoverage(all, accepted));
    expect(curve[0]).toEqual([0, 0]);
    expect(curve[curve.length - 1]).toEqual([1, 1]);
    expect(kcCoverageFromCounts([])).toMatchObject({ kcs_total: 0, kcs_used: 0, share: null, gini: null, lorenz: [] });
  });

  it('Lorenz curve is monotone, ends at (1, 1), and is the diagonal for even usage', () => {
    const even = lorenz([2, 2, 2, 2]);
    for (const [x, y] of even) expect(y).toBeCloseTo(x, 12);
    const skewed = lorenz([0, 0, 1, 9]);
    for (let i = 1; i < skewed.length; i++) expect(skewed[i]![1]).toBeGreaterThanOrEqual(skewed[i - 1]![1]);
  });

  it('acceptance rows come in core/report order and shape', () => {
    const rows = acceptanceRows([
      { relation: '3-hop', hop: 3, judged: '2', accepted_count: '1', acceptance_rate: 0.5, mean_score: 0.6 },
      { relation: '1-hop', hop: 1, judged: '1', accepted_count: '1', acceptance_rate: 1, mean_score: null },
    ]);
    expect(rows).toEqual(
      acceptanceByRelation([
        { relation: '3-hop', hop: 3, accepted: true, problem_score: 0.7, calls_made: 6, calls_saved: 0 },
        { relation: '3-hop', hop: 3, accepted: false, problem_score: 0.5, calls_made: 6, calls_saved: 0 },
        { relation: '1-hop', hop: 1, accepted: true, problem_score: null, calls_made: 6, calls_saved: 0 },
      ]).map((r) => ({ ...r, mean_score: r.mean_score === null ? null : Math.round(r.mean_score * 10) / 10 })),
    );
  });

  it('similarity figures: core/report quantiles, the 0.9 ceiling count and a histogram that adds up', () => {
    const values = [0.5, 0.58, 0.61, 0.64, 0.93, 1];
    const f = similarityFigures(values);
    expect(f.seed_similarity).toEqual(quantiles(values));
    expect(f.seed_similarity_above_ceiling).toBe(2);
    expect(f.seed_similarity_histogram.reduce((s, b) => s + b.count, 0)).toBe(values.length);
    expect(f.seed_similarity_histogram[18]).toEqual({ lo: 0.9, hi: 0.95, count: 1 });
    expect(f.seed_similarity_histogram[19]).toEqual({ lo: 0.95, hi: 1, count: 1 }); // 1.0 falls in the last bin
    expect(similarityFigures([])).toMatchObject({ seed_similarity_above_ceiling: null, seed_similarity_histogram: [] });
  });

  it('novelty, cost and DLQ figures from single rows; empty input gives nulls and zeros', () => {
    expect(combinationsFigures([{ relation: '1-hop', combinations: '4', novel_combinations: '1' }, { relation: '2-hop', combinations: '6', novel_combinations: '6' }])).toEqual({ total: 10, novel: 7, by_relation: { '1-hop': 4, '2-hop': 6 }, novelty_rate: 0.7 });
    expect(combinationsFigures([]).novelty_rate).toBeNull();
    expect(costFigures(undefined)).toEqual({ llm: { calls: 0, tokens: 0 }, calls_per_accepted: null, tokens_per_accepted: null, calls_saved_early_exit: 0, accepted_per_minute: null });
    expect(dlqFigures([{ stage: 'judge', dead_letters: '2', dlq_rate: 0.1 }])).toEqual({ dlq_by_stage: { judge: 2 }, dlq_rate_by_stage: { judge: 0.1 } });
  });

  it('contamination table has RunReport shape: all + one row per benchmark, per n and any', () => {
    const index = createNgramIndex([{ id: '1', source: 's', text: 'one two three four five six seven eight nine ten' }]);
    const table = contaminationTable(index.contaminationRates(['one two three four five six seven eight', 'nothing here']));
    expect(table).toEqual({ all: { 8: 0.5, 10: 0, 13: 0, any: 0.5 }, s: { 8: 0.5, 10: 0, 13: 0, any: 0.5 } });
  });

  it('time buckets keep a series to at most ~120 points', () => {
    expect(bucketSecondsFor(0)).toBe(60);
    expect(bucketSecondsFor(3600)).toBe(60);
    expect(bucketSecondsFor(86400)).toBe(900);
    expect(bucketSecondsFor(10 * 365 * 86400)).toBe(7 * 86400);
  });
});

describe('synthetic data set (fixture of the integration tests)', () => {
  const data = syntheticData();
  it('is deterministic, has unique ids, replayed verdicts and duplicates to insert', () => {
    expect(syntheticData()).toEqual(data);
    for (const [list, key] of [[data.seeds, 'seed_id'], [data.pairs, 'combo_id'], [data.candidates, 'candidate_id'], [data.verdicts, 'verdict_id']] as const) {
      const ids = (list as unknown as Array<Record<string, string>>).map((m) => m[key]);
      expect(new Set(ids).size).toBe(ids.length);
    }
    const old = data.verdicts.filter((v) => v.judge_config_version === JUDGE_OLD);
    expect(old.length).toBe(20);
    for (const v of old) expect(data.verdicts.some((n) => n.judge_config_version === JUDGE_NEW && n.candidate_id === v.candidate_id)).toBe(true);
    expect(duplicates(data).verdicts.length).toBeGreaterThan(0);
    expect(new Set(data.pairs.map((p) => p.relation))).toEqual(new Set(['1-hop', '2-hop', '3-hop', 'community']));
    expect(data.verdicts.some((v) => v.accepted) && data.verdicts.some((v) => !v.accepted)).toBe(true);
  });
});
