/**
 * report.json / report.md of a run. Every figure comes from core/report, the one definition that
 * `grip report --from clickhouse` uses too; the JSON keys are the ones that command prints.
 */
import type { GraphStats } from '../../core/graph/index.ts';
import type { ContaminationRates } from '../../core/decontam/index.ts';
import { GATE_NAMES } from '../../core/gates/index.ts';
import {
  answerCheckFigures,
  answerCheckLines,
  contaminationTable,
  acceptanceByRelation,
  callsSavedByEarlyExit,
  kcCoverage,
  noveltyRate,
  perAccepted,
  quantiles,
  type AcceptanceRow,
  type AnswerCheckFigures,
  type KcCoverage,
  type Quantiles,
} from '../../core/report/index.ts';
import type { Candidate, Combination, Seed, SeedConcepts, Verdict } from '../../schemas/generated/types.ts';
import { SELF_CONSISTENCY_REASON, VERIFY_STAGE } from '../../services/judge/handler.ts';
import type { StageUsage } from '../../services/runtime/llm.ts';

/** A dlq.jsonl row: an input some stage could not process, and why. */
export interface DlqRecord {
  stage: string;
  id: string;
  reason: string;
  detail: string;
  input: unknown;
}

export interface RunReport {
  /** The domain pack the run used (domains/<name>). */
  domain: string;
  /** The benchmark sets every candidate was checked against, with their item counts; `note` when none was configured. */
  decontamination: { checked: Array<{ source: string; file: string; items: number }>; note: string | null };
  seeds: { lines_read: number; valid: number; duplicates: number; rejected: number };
  kcs: number;
  graph: GraphStats;
  combinations: { total: number; by_relation: Record<string, number> };
  novelty_rate: number | null;
  candidates: number;
  verdicts: number;
  accepted: number;
  acceptance_rate: number | null;
  acceptance_by_relation: AcceptanceRow[];
  /** Quality gates (pairs rejected per gate) and the self-consistency agreement rate per relation and hop. */
  answer_checks: AnswerCheckFigures & { gates_enabled: boolean; self_consistency_enabled: boolean };
  kc_coverage: KcCoverage;
  seed_similarity: Quantiles;
  /** Share of accepted problems with an n-gram overlap, per benchmark and n ("any" = any n). */
  contamination: Record<string, Record<string, number>>;
  calls_per_accepted: number | null;
  tokens_per_accepted: number | null;
  calls_saved_early_exit: number;
  dlq_by_stage: Record<string, number>;
  /** calls and tokens are what the data cost (cache hits included); *_this_run is what this invocation paid. */
  llm: { calls: number; tokens: number; cached_this_run: number; requests_this_run: number; by_stage: Record<string, StageUsage> };
  wall_seconds: number;
}

export interface ReportInput {
  domain: string;
  benchmarkSets: Array<{ source: string; file: string; items: number }>;
  gatesEnabled: boolean;
  selfConsistency: boolean;
  seedsRead: number;
  seeds: Seed[];
  duplicateSeeds: number;
  concepts: SeedConcepts[];
  kcIds: string[];
  graph: GraphStats;
  combos: Combination[];
  candidates: Candidate[];
  verdicts: Verdict[];
  dlq: DlqRecord[];
  seedSimilarities: number[];
  contamination: ContaminationRates;
  llmUsage: Record<string, StageUsage>;
  wallSeconds: number;
}

export function buildReport(input: ReportInput): RunReport {
  const accepted = input.verdicts.filter((v) => v.accepted);
  const byRelation: Record<string, number> = {};
  for (const c of input.combos) byRelation[c.relation] = (byRelation[c.relation] ?? 0) + 1;
  const dlqByStage: Record<string, number> = {};
  for (const d of input.dlq) dlqByStage[d.stage] = (dlqByStage[d.stage] ?? 0) + 1;
  const usage = Object.values(input.llmUsage);
  const calls = usage.reduce((s, u) => s + u.calls, 0);
  const tokens = usage.reduce((s, u) => s + u.tokens, 0);
  const checks = answerCheckFigures(
    input.verdicts.map((v) => ({ relation: v.relation, hop: v.hop, reason: v.reason, verified: v.lineage.steps.some((s) => s.stage === VERIFY_STAGE), count: 1, calls_saved: v.calls_saved })),
    GATE_NAMES,
    SELF_CONSISTENCY_REASON,
  );
  return {
    domain: input.domain,
    decontamination: { checked: input.benchmarkSets, note: input.benchmarkSets.length === 0 ? 'no decontamination set configured (decontamination.sets is empty): candidates were not checked against any benchmark' : null },
    seeds: {
      lines_read: input.seedsRead,
      valid: input.seeds.length,
      duplicates: input.duplicateSeeds,
      rejected: input.dlq.filter((d) => d.stage === 'seed-ingest').length,
    },
    kcs: input.kcIds.length,
    graph: input.graph,
    combinations: { total: input.combos.length, by_relation: byRelation },
    novelty_rate: noveltyRate(input.combos),
    candidates: input.candidates.length,
    verdicts: input.verdicts.length,
    accepted: accepted.length,
    acceptance_rate: input.verdicts.length === 0 ? null : accepted.length / input.verdicts.length,
    acceptance_by_relation: acceptanceByRelation(input.verdicts),
    answer_checks: { ...checks, gates_enabled: input.gatesEnabled, self_consistency_enabled: input.selfConsistency },
    kc_coverage: kcCoverage(input.kcIds, accepted.map((v) => v.kc_ids)),
    seed_similarity: quantiles(input.seedSimilarities),
    contamination: contaminationTable(input.contamination),
    calls_per_accepted: perAccepted(calls, accepted.length),
    tokens_per_accepted: perAccepted(tokens, accepted.length),
    calls_saved_early_exit: callsSavedByEarlyExit(input.verdicts),
    dlq_by_stage: dlqByStage,
    llm: { calls, tokens, cached_this_run: usage.reduce((s, u) => s + u.cached, 0), requests_this_run: usage.reduce((s, u) => s + u.requests, 0), by_stage: input.llmUsage },
    wall_seconds: Math.round(input.wallSeconds * 10) / 10,
  };
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`);
const num = (x: number | null, digits = 2) => (x === null ? 'n/a' : x.toFixed(digits));

export function renderReportMarkdown(r: RunReport): string {
  const lines = [
    '# GRIP run report',
    '',
    `Seeds: ${r.seeds.valid} valid of ${r.seeds.lines_read} lines (${r.seeds.duplicates} duplicates, ${r.seeds.rejected} rejected). KCs: ${r.kcs}.`,
    `Graph: ${r.graph.nodes} nodes, ${r.graph.edges} edges, ${r.graph.components.count} components (largest ${r.graph.components.largest}).`,
    `Combinations: ${r.combinations.total} (${Object.entries(r.combinations.by_relation).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}); novelty rate ${pct(r.novelty_rate)} (paper: 71.8%).`,
    `Candidates: ${r.candidates}; accepted ${r.accepted} of ${r.verdicts} judged (${pct(r.acceptance_rate)}).`,
    '',
    '## Acceptance by relation type and hop (paper, Table 4: 1-hop 0.94, 2-hop 0.72, 3-hop 0.62)',
    '',
    '| relation | hop | judged | accepted | rate | mean score |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...r.acceptance_by_relation.map((a) => `| ${a.relation} | ${a.hop} | ${a.count} | ${a.accepted} | ${pct(a.acceptance_rate)} | ${num(a.mean_score)} |`),
    '',
    '## Quality gates and answer checks',
    '',
    // Reports written before the checks existed have neither key: `grip report DIR` still prints them.
    ...(r.answer_checks
      ? [`Gates ${r.answer_checks.gates_enabled ? 'on' : 'off'}, self-consistency ${r.answer_checks.self_consistency_enabled ? 'on' : 'off'} (domain ${r.domain}).`, ...answerCheckLines(r.answer_checks)]
      : ['(not recorded by this run)']),
    '',
    '## Diversity and contamination',
    '',
    r.decontamination ? (r.decontamination.note ?? `Checked against: ${r.decontamination.checked.map((b) => `${b.source} (${b.items} items)`).join(', ')}.`) : '',
    '',
    `KC coverage: ${r.kc_coverage.kcs_used} of ${r.kc_coverage.kcs_total} KCs used by accepted pairs (${pct(r.kc_coverage.share)}), Gini ${num(r.kc_coverage.gini)}.`,
    `Similarity of accepted problems to their seeds: median ${num(r.seed_similarity.p50)}, p95 ${num(r.seed_similarity.p95)}, max ${num(r.seed_similarity.max)} (paper: 0.55-0.65, none above 0.9).`,
    '',
    '| benchmark | 8-gram | 10-gram | 13-gram | any |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...Object.entries(r.contamination).map(([b, row]) => `| ${b} | ${pct(row['8'] ?? null)} | ${pct(row['10'] ?? null)} | ${pct(row['13'] ?? null)} | ${pct(row.any ?? null)} |`),
    '',
    '## Cost',
    '',
    `LLM calls: ${r.llm.calls} (${r.llm.cached_this_run} answered from the cache in this run), ${r.llm.tokens} tokens; per accepted pair: ${num(r.calls_per_accepted, 1)} calls, ${num(r.tokens_per_accepted, 0)} tokens.`,
    `Judge calls saved by early exit: ${r.calls_saved_early_exit}.`,
    `DLQ: ${Object.entries(r.dlq_by_stage).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}.`,
    `Wall time: ${r.wall_seconds} s.`,
    '',
  ];
  return lines.join('\n');
}
