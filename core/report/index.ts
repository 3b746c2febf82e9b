/**
 * The figures every report shows, defined once: `grip run`'s report.json and `grip report` (from a
 * run folder or from ClickHouse) compute them with these functions, so a figure means the same
 * everywhere. Pure functions over plain rows.
 */
import type { ContaminationRates } from '../decontam/index.ts';

export interface ComboRow {
  relation: string;
  hop: number;
  novel: boolean;
}

export interface VerdictRow {
  relation: string;
  hop: number;
  accepted: boolean;
  problem_score: number | null;
  calls_made: number;
  calls_saved: number;
}

export interface AcceptanceRow {
  relation: string;
  hop: number;
  count: number;
  accepted: number;
  acceptance_rate: number;
  /** Mean weighted problem score over the verdicts that have one (null if none). */
  mean_score: number | null;
}

/** Share of combinations whose KCs never all appeared together in one seed (paper: 71.8%). */
export function noveltyRate(combos: Iterable<ComboRow>): number | null {
  let n = 0;
  let novel = 0;
  for (const c of combos) {
    n++;
    if (c.novel) novel++;
  }
  return n === 0 ? null : novel / n;
}

/** The paper's Table 4 layout: per relation type and hop, how many were judged, accepted, and the mean score. */
export function acceptanceByRelation(verdicts: Iterable<VerdictRow>): AcceptanceRow[] {
  const groups = new Map<string, { relation: string; hop: number; count: number; accepted: number; scoreSum: number; scored: number }>();
  for (const v of verdicts) {
    const key = `${v.relation}\u0000${v.hop}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { relation: v.relation, hop: v.hop, count: 0, accepted: 0, scoreSum: 0, scored: 0 }));
    g.count++;
    if (v.accepted) g.accepted++;
    if (v.problem_score !== null && v.problem_score !== undefined) {
      g.scoreSum += v.problem_score;
      g.scored++;
    }
  }
  return [...groups.values()]
    .sort((a, b) => a.hop - b.hop || a.relation.localeCompare(b.relation))
    .map((g) => ({
      relation: g.relation,
      hop: g.hop,
      count: g.count,
      accepted: g.accepted,
      acceptance_rate: g.accepted / g.count,
      mean_score: g.scored === 0 ? null : g.scoreSum / g.scored,
    }));
}

/**
 * Gini coefficient of non-negative counts: 0 when every item is used equally, towards 1 when a few
 * items take everything. Null for no items or no usage at all.
 */
export function gini(counts: readonly number[]): number | null {
  const n = counts.length;
  const total = counts.reduce((s, c) => s + c, 0);
  if (n === 0 || total === 0) return null;
  const sorted = [...counts].sort((a, b) => a - b);
  let weighted = 0;
  sorted.forEach((c, i) => (weighted += (i + 1) * c));
  return (2 * weighted) / (n * total) - (n + 1) / n;
}

export interface KcCoverage {
  kcs_total: number;
  kcs_used: number;
  /** kcs_used / kcs_total. */
  share: number | null;
  /** Gini of per-KC usage counts in accepted data, over all KCs (unused ones count as 0). */
  gini: number | null;
}

/** How many of the graph's KCs the accepted data uses, and how evenly. */
export function kcCoverage(allKcIds: Iterable<string>, acceptedKcLists: Iterable<readonly string[]>): KcCoverage {
  const usage = new Map<string, number>();
  for (const id of allKcIds) usage.set(id, 0);
  for (const list of acceptedKcLists) for (const id of list) usage.set(id, (usage.get(id) ?? 0) + 1);
  const counts = [...usage.values()];
  const used = counts.filter((c) => c > 0).length;
  return { kcs_total: usage.size, kcs_used: used, share: usage.size === 0 ? null : used / usage.size, gini: gini(counts) };
}

export interface Quantiles {
  n: number;
  min: number | null;
  p05: number | null;
  p25: number | null;
  p50: number | null;
  p75: number | null;
  p95: number | null;
  max: number | null;
  mean: number | null;
}

/** Quantiles by linear interpolation between order statistics (type 7, as numpy and ClickHouse's quantileExact-like defaults). */
export function quantiles(values: readonly number[]): Quantiles {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const q = (p: number): number | null => {
    if (xs.length === 0) return null;
    const pos = (xs.length - 1) * p;
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo);
  };
  return {
    n: xs.length,
    min: q(0),
    p05: q(0.05),
    p25: q(0.25),
    p50: q(0.5),
    p75: q(0.75),
    p95: q(0.95),
    max: q(1),
    mean: xs.length === 0 ? null : xs.reduce((s, x) => s + x, 0) / xs.length,
  };
}

/** Calls the judges did not have to make because the decision settled early, summed. */
export function callsSavedByEarlyExit(verdicts: Iterable<VerdictRow>): number {
  let saved = 0;
  for (const v of verdicts) saved += v.calls_saved;
  return saved;
}

export function perAccepted(total: number, accepted: number): number | null {
  return accepted === 0 ? null : total / accepted;
}

/**
 * The contamination table of every report: `all` plus one row per benchmark, each
 * { "8": share, "10": share, "13": share, any: share } of accepted problems.
 */
export function contaminationTable(rates: ContaminationRates): Record<string, Record<string, number>> {
  const row = (r: ContaminationRates['overall']) => ({ ...Object.fromEntries(Object.entries(r.byN).map(([n, v]) => [n, v])), any: r.any });
  return { all: row(rates.overall), ...Object.fromEntries(Object.entries(rates.bySource).map(([source, r]) => [source, row(r)])) };
}

/**
 * One group of verdicts as both sources can give it: `grip run` from its verdicts, ClickHouse from
 * deploy/clickhouse/analytics/answer_checks.sql. `verified`: the independent second solve (LLM
 * step `verify`) ran for these verdicts.
 */
export interface CheckRow {
  relation: string;
  hop: number;
  reason: string;
  verified: boolean;
  count: number;
  calls_saved: number;
}

export interface AgreementRow {
  relation: string;
  hop: number;
  /** Candidates whose answer was checked by a second solve. */
  checked: number;
  agreed: number;
  agreement_rate: number | null;
}

export interface AnswerCheckFigures {
  /** Pairs each quality gate rejected (every gate listed, 0 when it rejected none). */
  rejected_by_gate: Record<string, number>;
  /** Judge calls not made because a gate or the self-consistency check rejected the pair first. */
  judge_calls_saved_by_checks: number;
  self_consistency: { checked: number; agreed: number; agreement_rate: number | null; by_relation: AgreementRow[] };
}

/** Rejections per gate and the self-consistency agreement rate, overall and per relation type and hop. */
export function answerCheckFigures(rows: Iterable<CheckRow>, gateNames: readonly string[], selfConsistencyReason: string): AnswerCheckFigures {
  const byGate: Record<string, number> = Object.fromEntries(gateNames.map((g) => [g, 0]));
  let saved = 0;
  const groups = new Map<string, AgreementRow>();
  for (const r of rows) {
    const isGate = r.reason.startsWith('gate:');
    if (isGate) byGate[r.reason.slice(5)] = (byGate[r.reason.slice(5)] ?? 0) + r.count;
    if (isGate || r.reason === selfConsistencyReason) saved += r.calls_saved;
    if (!r.verified) continue;
    const key = `${r.relation}\u0000${r.hop}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { relation: r.relation, hop: r.hop, checked: 0, agreed: 0, agreement_rate: null }));
    g.checked += r.count;
    if (r.reason !== selfConsistencyReason) g.agreed += r.count;
  }
  const byRelation = [...groups.values()]
    .sort((a, b) => a.hop - b.hop || a.relation.localeCompare(b.relation))
    .map((g) => ({ ...g, agreement_rate: g.checked === 0 ? null : g.agreed / g.checked }));
  const checked = byRelation.reduce((s, g) => s + g.checked, 0);
  const agreed = byRelation.reduce((s, g) => s + g.agreed, 0);
  return { rejected_by_gate: byGate, judge_calls_saved_by_checks: saved, self_consistency: { checked, agreed, agreement_rate: checked === 0 ? null : agreed / checked, by_relation: byRelation } };
}

const pctOf = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`);

/** The quality-gate and self-consistency lines of both reports (grip run's report.md, grip report --from clickhouse). */
export function answerCheckLines(f: AnswerCheckFigures): string[] {
  const gates = Object.entries(f.rejected_by_gate);
  const sc = f.self_consistency;
  return [
    `Quality gates, pairs rejected before judging: ${gates.map(([g, n]) => `${g} ${n}`).join(', ') || 'none'} (total ${gates.reduce((s, [, n]) => s + n, 0)}).`,
    `Judge calls saved by the gates and the self-consistency check: ${f.judge_calls_saved_by_checks}.`,
    `Self-consistency (an independent second solve must agree): ${sc.agreed} of ${sc.checked} agreed (${pctOf(sc.agreement_rate)})` +
      (sc.by_relation.length > 0 ? `; per relation and hop: ${sc.by_relation.map((r) => `${r.relation} hop ${r.hop} ${r.agreed}/${r.checked} (${pctOf(r.agreement_rate)})`).join(', ')}.` : '.'),
  ];
}
