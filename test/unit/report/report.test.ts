import { describe, expect, it } from 'vitest';
import { acceptanceByRelation, callsSavedByEarlyExit, gini, kcCoverage, noveltyRate, perAccepted, quantiles } from '../../../core/report/index.ts';

describe('report figures', () => {
  it('novelty rate is the share of novel combinations', () => {
    expect(noveltyRate([{ relation: '1-hop', hop: 1, novel: false }, { relation: '2-hop', hop: 2, novel: true }, { relation: '3-hop', hop: 3, novel: true }, { relation: '2-hop', hop: 2, novel: true }])).toBe(0.75);
    expect(noveltyRate([])).toBeNull();
  });

  it('groups verdicts by relation and hop like the paper table', () => {
    const v = (relation: string, hop: number, accepted: boolean, score: number | null) => ({ relation, hop, accepted, problem_score: score, calls_made: 6, calls_saved: 0 });
    const rows = acceptanceByRelation([v('2-hop', 2, true, 0.9), v('1-hop', 1, true, 1), v('2-hop', 2, false, 0.5), v('2-hop', 2, false, null)]);
    expect(rows).toEqual([
      { relation: '1-hop', hop: 1, count: 1, accepted: 1, acceptance_rate: 1, mean_score: 1 },
      { relation: '2-hop', hop: 2, count: 3, accepted: 1, acceptance_rate: 1 / 3, mean_score: 0.7 },
    ]);
    expect(callsSavedByEarlyExit([{ ...v('x', 1, false, 0), calls_saved: 5 }, { ...v('x', 1, false, 0), calls_saved: 2 }])).toBe(7);
  });

  it('gini is 0 for equal use and grows with concentration', () => {
    expect(gini([3, 3, 3])).toBeCloseTo(0);
    expect(gini([0, 0, 0, 10])).toBeCloseTo(0.75);
    expect(gini([])).toBeNull();
    expect(gini([0, 0])).toBeNull();
  });

  it('kc coverage counts used KCs over all KCs', () => {
    const c = kcCoverage(['a', 'b', 'c', 'd'], [['a', 'b'], ['a']]);
    expect(c).toMatchObject({ kcs_total: 4, kcs_used: 2, share: 0.5 });
    expect(c.gini).toBeCloseTo(gini([2, 1, 0, 0])!);
  });

  it('quantiles interpolate between order statistics', () => {
    const q = quantiles([0.1, 0.4, 0.2, 0.3, 0.5]);
    expect(q).toMatchObject({ n: 5, min: 0.1, p50: 0.3, max: 0.5 });
    expect(q.p25).toBeCloseTo(0.2);
    expect(q.p05).toBeCloseTo(0.12);
    expect(q.mean).toBeCloseTo(0.3);
    expect(quantiles([])).toMatchObject({ n: 0, p50: null, mean: null });
    expect(perAccepted(10, 0)).toBeNull();
    expect(perAccepted(10, 4)).toBe(2.5);
  });
});
