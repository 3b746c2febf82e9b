/**
 * `grip report --from clickhouse [--json]`: the pipeline's figures read from ClickHouse
 * (services/analytics), printed for a person or as JSON for scripts. The JSON keys are the `grip run`
 * report's where both have a figure, so scripts read either the same way.
 */
import { answerCheckLines } from '../core/report/index.ts';
import { clickhouseReport, type ClickHouseReport } from '../services/analytics/index.ts';
import type { GripConfig } from '../services/runtime/config.ts';

const pct = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : `${(x * 100).toFixed(1)}%`);
const fix = (x: number | null | undefined, digits = 2) => (x === null || x === undefined ? 'n/a' : x.toFixed(digits));
const utc = (t: number) => new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ');

/** Plain-text rendering: one block per figure, the paper's value beside ours where it has one. */
export function renderClickHouseReport(r: ClickHouseReport): string {
  const out: string[] = [];
  out.push(`GRIP pipeline report from ClickHouse (database ${r.database}, ${r.generated_at})`);
  out.push(
    r.judge_config_version === null
      ? 'Judge config: none yet (no verdicts)'
      : `Judge config: ${r.judge_config_version} (${r.judge_config_rule}${r.judge_configs.length > 1 ? `; others: ${r.judge_configs.filter((c) => c.judge_config_version !== r.judge_config_version).map((c) => c.judge_config_version).join(', ')}` : ''})`,
  );
  out.push('');
  out.push(`Combinations: ${r.combinations.total} (${Object.entries(r.combinations.by_relation).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'})`);
  out.push(`Novelty rate: ${pct(r.novelty_rate)} (paper: 71.8%)`);
  if (r.novelty_over_time.length > 1) {
    out.push(`  per ${r.bucket_seconds} s: ${r.novelty_over_time.slice(-6).map((p) => `${utc(p.t)} ${pct(p.novelty_rate)}`).join(', ')}${r.novelty_over_time.length > 6 ? ' (last 6)' : ''}`);
  }
  out.push('');
  out.push(`Verdicts: ${r.verdicts}, accepted ${r.accepted} (${pct(r.acceptance_rate)})`);
  out.push('Acceptance by relation and hop (paper, mean score: 1-hop 0.94, 2-hop 0.72, 3-hop 0.62):');
  out.push(`  ${'relation'.padEnd(12)} ${'hop'.padStart(3)} ${'judged'.padStart(7)} ${'accepted'.padStart(8)} ${'rate'.padStart(7)} ${'mean score'.padStart(10)}`);
  for (const a of r.acceptance_by_relation) {
    out.push(`  ${a.relation.padEnd(12)} ${String(a.hop).padStart(3)} ${String(a.count).padStart(7)} ${String(a.accepted).padStart(8)} ${pct(a.acceptance_rate).padStart(7)} ${fix(a.mean_score).padStart(10)}`);
  }
  if (r.acceptance_by_relation.length === 0) out.push('  (no verdicts yet)');
  out.push('');
  out.push(`KC coverage: ${r.kc_coverage.kcs_used} of ${r.kc_coverage.kcs_total} KCs used by accepted pairs (${pct(r.kc_coverage.share)}), Gini ${fix(r.kc_coverage.gini)}`);
  const s = r.seed_similarity;
  out.push(
    s === null
      ? 'Similarity to seeds: unavailable (see warnings)'
      : `Similarity to seeds (${r.seed_similarity_model}, ${s.n} accepted): median ${fix(s.p50)}, p05-p95 ${fix(s.p05)}-${fix(s.p95)}, max ${fix(s.max)}, above 0.9: ${r.seed_similarity_above_ceiling ?? 'n/a'} (paper: 0.55-0.65, none above 0.9)`,
  );
  out.push('Contamination, share of accepted problems with an n-gram overlap (paper, MATH test: 1.94% / 0.63% / 0.06%):');
  out.push(`  ${'benchmark'.padEnd(12)} ${'8-gram'.padStart(7)} ${'10-gram'.padStart(7)} ${'13-gram'.padStart(7)} ${'any'.padStart(7)}`);
  if (r.contamination === null) out.push('  (no benchmark sets found; see warnings)');
  for (const [b, row] of Object.entries(r.contamination ?? {})) {
    out.push(`  ${b.padEnd(12)} ${pct(row['8']).padStart(7)} ${pct(row['10']).padStart(7)} ${pct(row['13']).padStart(7)} ${pct(row.any).padStart(7)}`);
  }
  const j = r.contamination_judge.by_n;
  out.push(`  ${'judge record'.padEnd(12)} ${pct(j['8']).padStart(7)} ${pct(j['10']).padStart(7)} ${pct(j['13']).padStart(7)}`);
  out.push('');
  out.push(`Throughput: ${fix(r.accepted_per_minute)} accepted pairs per minute`);
  out.push(`Cost: ${r.llm.calls} LLM calls, ${r.llm.tokens} tokens; per accepted pair ${fix(r.calls_per_accepted, 1)} calls, ${fix(r.tokens_per_accepted, 0)} tokens`);
  out.push(`Judge calls saved by early exit: ${r.calls_saved_early_exit}`);
  out.push(...answerCheckLines(r.answer_checks));
  const dlq = Object.entries(r.dlq_by_stage);
  out.push(`DLQ: ${dlq.map(([stage, n]) => `${stage} ${n} (${pct(r.dlq_rate_by_stage[stage])})`).join(', ') || 'none'}`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  return `${out.join('\n')}\n`;
}

export async function printClickHouseReport(config: GripConfig, o: { json?: boolean; judgeConfig?: string }, write: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const report = await clickhouseReport(config, { judgeConfig: o.judgeConfig });
  // The text rendering lists warnings itself; with --json they go to stderr too, so a script's log shows them.
  if (o.json) for (const w of report.warnings) process.stderr.write(`grip report: warning: ${w}\n`);
  write(o.json ? `${JSON.stringify(report, null, 2)}\n` : renderClickHouseReport(report));
}
