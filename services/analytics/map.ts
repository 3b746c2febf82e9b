/**
 * Pure mapping from the analytics queries' rows (JSONEachRow: 64-bit integers arrive as strings) to
 * the report's figures. Where a query hands back arrays (per-KC usage counts, per-verdict
 * similarities) the math is core/report's, so each figure has one definition shared with the
 * `grip run` report; the keys and shapes match RunReport's where RunReport has them.
 */
import { GATE_NAMES } from '../../core/gates/index.ts';
import { answerCheckFigures, gini, quantiles, type AcceptanceRow, type AnswerCheckFigures, type KcCoverage, type Quantiles } from '../../core/report/index.ts';
import { SELF_CONSISTENCY_REASON } from '../judge/handler.ts';

/** The paper's figures, drawn as reference lines by the dashboard and printed beside ours. */
export const PAPER = {
  novelty_rate: 0.718,
  mean_score_by_hop: { 1: 0.94, 2: 0.72, 3: 0.62 } as Record<number, number>,
  seed_similarity_band: [0.55, 0.65] as [number, number],
  seed_similarity_ceiling: 0.9,
  contamination_math: { 8: 0.0194, 10: 0.0063, 13: 0.0006 } as Record<number, number>,
};

export type Row = Record<string, unknown>;

/** A count or measure from ClickHouse JSON (UInt64 is a string there); null stays null. */
export function num(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}

const count = (value: unknown) => num(value) ?? 0;

export interface JudgeConfigRow {
  judge_config_version: string;
  verdicts: number;
  accepted: number;
  first_at: string;
  last_at: string;
}

export const isoOfMs = (ms: number) => new Date(ms).toISOString();

export function judgeConfigs(rows: Row[]): JudgeConfigRow[] {
  return rows.map((r) => ({
    judge_config_version: String(r.judge_config_version),
    verdicts: count(r.verdicts),
    accepted: count(r.accepted_count),
    first_at: isoOfMs(count(r.first_version)),
    last_at: isoOfMs(count(r.last_version)),
  }));
}

export interface NoveltyPoint {
  /** Bucket start, Unix seconds (UTC). */
  t: number;
  combinations: number;
  novel: number;
  novelty_rate: number;
}

export function combinationsFigures(rows: Row[]): { total: number; novel: number; by_relation: Record<string, number>; novelty_rate: number | null } {
  const by_relation: Record<string, number> = {};
  let total = 0;
  let novel = 0;
  for (const r of rows) {
    by_relation[String(r.relation)] = count(r.combinations);
    total += count(r.combinations);
    novel += count(r.novel_combinations);
  }
  // Same definition as core/report noveltyRate: novel / all, null without combinations.
  return { total, novel, by_relation, novelty_rate: total === 0 ? null : novel / total };
}

export function noveltyOverTime(rows: Row[]): NoveltyPoint[] {
  return rows.map((r) => ({ t: count(r.t), combinations: count(r.combinations), novel: count(r.novel_combinations), novelty_rate: num(r.novelty_rate) ?? 0 }));
}

/** Rows in core/report's AcceptanceRow shape and order (hop, then relation). */
export function acceptanceRows(rows: Row[]): AcceptanceRow[] {
  return rows
    .map((r) => ({
      relation: String(r.relation),
      hop: count(r.hop),
      count: count(r.judged),
      accepted: count(r.accepted_count),
      acceptance_rate: num(r.acceptance_rate) ?? 0,
      mean_score: num(r.mean_score),
    }))
    .sort((a, b) => a.hop - b.hop || a.relation.localeCompare(b.relation));
}

export interface KcCoverageFigures extends KcCoverage {
  /** Lorenz curve of per-KC usage (share of KCs, share of uses), at most 101 points, for the chart. */
  lorenz: Array<[number, number]>;
}

/** KC coverage from the per-KC usage counts (every KC, unused ones 0): kcs_used / kcs_total and core/report's gini. */
export function kcCoverageFromCounts(usageCounts: unknown[]): KcCoverageFigures {
  const counts = usageCounts.map(count);
  const used = counts.filter((c) => c > 0).length;
  return { kcs_total: counts.length, kcs_used: used, share: counts.length === 0 ? null : used / counts.length, gini: gini(counts), lorenz: lorenz(counts) };
}

export function lorenz(counts: number[], points = 100): Array<[number, number]> {
  const sorted = [...counts].sort((a, b) => a - b);
  const total = sorted.reduce((s, c) => s + c, 0);
  if (sorted.length === 0 || total === 0) return [];
  const cumulative = [0];
  for (const c of sorted) cumulative.push(cumulative[cumulative.length - 1]! + c);
  const steps = Math.min(points, sorted.length);
  const out: Array<[number, number]> = [];
  for (let k = 0; k <= steps; k++) {
    const i = Math.round((k / steps) * sorted.length);
    out.push([i / sorted.length, cumulative[i]! / total]);
  }
  return out;
}

export interface SimilarityFigures {
  seed_similarity: Quantiles;
  /** Accepted problems above the paper's 0.9 ceiling (null without similarities). */
  seed_similarity_above_ceiling: number | null;
  /** Histogram in 0.05-wide bins over [0, 1] (values below 0 fall in the first bin), for the chart. */
  seed_similarity_histogram: Array<{ lo: number; hi: number; count: number }>;
}

export function similarityFigures(values: number[]): SimilarityFigures {
  const bins = Array.from({ length: 20 }, (_, i) => ({ lo: round2(i * 0.05), hi: round2((i + 1) * 0.05), count: 0 }));
  for (const v of values) bins[Math.min(19, Math.max(0, Math.floor(v / 0.05)))]!.count++;
  return {
    seed_similarity: quantiles(values),
    seed_similarity_above_ceiling: values.length === 0 ? null : values.filter((v) => v > PAPER.seed_similarity_ceiling).length,
    seed_similarity_histogram: values.length === 0 ? [] : bins,
  };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** The judge-recorded contamination (longest overlap >= n words), per n. */
export function contaminationJudge(row: Row | undefined): { accepted: number; by_n: Record<string, number | null> } {
  return {
    accepted: count(row?.accepted_count),
    by_n: { '8': num(row?.rate_8), '10': num(row?.rate_10), '13': num(row?.rate_13) },
  };
}

export interface ThroughputPoint {
  t: number;
  judged: number;
  accepted: number;
  accepted_per_minute: number;
}

export function throughputSeries(rows: Row[]): ThroughputPoint[] {
  return rows.map((r) => ({ t: count(r.t), judged: count(r.judged), accepted: count(r.accepted_count), accepted_per_minute: num(r.accepted_per_minute) ?? 0 }));
}

export interface CostFigures {
  llm: { calls: number; tokens: number };
  calls_per_accepted: number | null;
  tokens_per_accepted: number | null;
  calls_saved_early_exit: number;
  accepted_per_minute: number | null;
}

export function costFigures(row: Row | undefined): CostFigures {
  return {
    llm: { calls: count(row?.calls), tokens: count(row?.tokens) },
    calls_per_accepted: num(row?.calls_per_accepted),
    tokens_per_accepted: num(row?.tokens_per_accepted),
    calls_saved_early_exit: count(row?.calls_saved_total),
    accepted_per_minute: num(row?.accepted_per_minute),
  };
}

export function dlqFigures(rows: Row[]): { dlq_by_stage: Record<string, number>; dlq_rate_by_stage: Record<string, number | null> } {
  const dlq_by_stage: Record<string, number> = {};
  const dlq_rate_by_stage: Record<string, number | null> = {};
  for (const r of rows) {
    dlq_by_stage[String(r.stage)] = count(r.dead_letters);
    dlq_rate_by_stage[String(r.stage)] = num(r.dlq_rate);
  }
  return { dlq_by_stage, dlq_rate_by_stage };
}

/** Time bucket for the series: the smallest "nice" size that keeps a span to at most ~120 points. */
export function bucketSecondsFor(spanSeconds: number): number {
  const nice = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400];
  for (const b of nice) if (spanSeconds / b <= 120) return b;
  return nice[nice.length - 1]!;
}

/** answer_checks.sql rows -> rejections per gate and self-consistency agreement (core/report). */
export function answerCheckFiguresFrom(rows: Row[]): AnswerCheckFigures {
  return answerCheckFigures(
    rows.map((r) => ({ relation: String(r.relation), hop: count(r.hop), reason: String(r.reason), verified: count(r.verified) === 1, count: count(r.n), calls_saved: count(r.saved) })),
    GATE_NAMES,
    SELF_CONSISTENCY_REASON,
  );
}
