/**
 * The files `grip run` writes in DIR, each written once, atomically (temp file + rename), so a
 * kill never leaves a half-written or doubled file behind:
 *   accepted.jsonl / accepted.parquet  one row per accepted pair (loadable by HF `datasets`)
 *   rejected.jsonl                      every rejected candidate with its reason
 *   dlq.jsonl                           inputs that failed a stage, with the reason
 *   report.json / report.md             the run's figures
 */
import fs from 'node:fs';
import path from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { Verdict } from '../../schemas/generated/types.ts';
import { renderReportMarkdown, type DlqRecord, type RunReport } from './report.ts';

/** One dataset row: the pair, how it was judged, and where it came from. */
export interface AcceptedRow {
  id: string;
  problem: string;
  solution: string;
  final_answer: string | null;
  kcs: string[];
  kc_ids: string[];
  relation: string;
  hop: number;
  novel: boolean;
  difficulty: string;
  problem_score: number | null;
  judges: string[];
  judge_models: string[];
  judge_problem_scores: Array<number | null>;
  judge_solution_votes: Array<number | null>;
  contamination_overlap: number;
  contamination_match: string | null;
  seed_ids: string[];
  combo_id: string;
  candidate_id: string;
  models: string[];
  prompt_versions: string[];
  /** Every model call behind the row, as JSON: [{stage, model, prompt_version, call_id, cached}]. */
  lineage_steps: string;
}

export function toAcceptedRow(v: Verdict): AcceptedRow {
  const steps = v.lineage.steps;
  return {
    id: v.verdict_id,
    problem: v.problem,
    solution: v.solution,
    final_answer: v.final_answer,
    kcs: v.kc_names,
    kc_ids: v.kc_ids,
    relation: v.relation,
    hop: v.hop,
    novel: v.novel,
    difficulty: v.difficulty,
    problem_score: v.problem_score,
    judges: v.judges.map((j) => j.judge),
    judge_models: v.judges.map((j) => j.model),
    judge_problem_scores: v.judges.map((j) => j.problem_score),
    judge_solution_votes: v.judges.map((j) => j.solution_vote),
    contamination_overlap: v.contamination_overlap,
    contamination_match: v.contamination_match,
    seed_ids: v.lineage.seed_ids,
    combo_id: v.combo_id,
    candidate_id: v.candidate_id,
    models: [...new Set(steps.map((s) => s.model))],
    prompt_versions: [...new Set(steps.map((s) => `${s.stage}:${s.prompt_version}`))],
    lineage_steps: JSON.stringify(steps.map((s) => ({ stage: s.stage, model: s.model, prompt_version: s.prompt_version, call_id: s.call_id }))),
  };
}

/** A rejected candidate: the same columns as an accepted row, plus why and what judging cost. */
export function toRejectedRow(v: Verdict) {
  return { ...toAcceptedRow(v), reason: v.reason, duplicate_of: v.duplicate_of, calls_made: v.calls_made, calls_saved: v.calls_saved };
}

/**
 * Message timestamps say when a run first started, not what it produced: the files leave them out,
 * so a resumed run and an uninterrupted one write the same bytes.
 */
function withoutTimestamps(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const { created_at: _c, ingested_at: _i, ...rest } = value as Record<string, unknown>;
  return rest;
}

type Scalar = 'string' | 'double' | 'int32' | 'boolean';
/** Parquet column types of the dataset, in column order; `[t]` is a list of t. Lists are native
 * LIST columns, so pyarrow and Hugging Face `datasets` read them as lists, not JSON strings. */
const COLUMNS: Record<keyof AcceptedRow, Scalar | [Scalar]> = {
  id: 'string', problem: 'string', solution: 'string', final_answer: 'string', kcs: ['string'], kc_ids: ['string'],
  relation: 'string', hop: 'int32', novel: 'boolean', difficulty: 'string', problem_score: 'double', judges: ['string'],
  judge_models: ['string'], judge_problem_scores: ['double'], judge_solution_votes: ['int32'], contamination_overlap: 'int32',
  contamination_match: 'string', seed_ids: ['string'], combo_id: 'string', candidate_id: 'string', models: ['string'],
  prompt_versions: ['string'], lineage_steps: 'string',
};
const NULLABLE = new Set<keyof AcceptedRow>(['final_answer', 'problem_score', 'contamination_match']);

const PHYSICAL: Record<Scalar, Record<string, string>> = {
  string: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  double: { type: 'DOUBLE' },
  int32: { type: 'INT32' },
  boolean: { type: 'BOOLEAN' },
};

function parquetSchema(): any[] {
  const names = Object.keys(COLUMNS) as Array<keyof AcceptedRow>;
  const schema: any[] = [{ name: 'root', num_children: names.length }];
  for (const name of names) {
    const t = COLUMNS[name];
    if (Array.isArray(t)) {
      schema.push(
        { name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', repetition_type: 'OPTIONAL', ...PHYSICAL[t[0]] },
      );
    } else {
      schema.push({ name, repetition_type: NULLABLE.has(name) ? 'OPTIONAL' : 'REQUIRED', ...PHYSICAL[t] });
    }
  }
  return schema;
}

export function acceptedParquet(rows: AcceptedRow[]): ArrayBuffer {
  const names = Object.keys(COLUMNS) as Array<keyof AcceptedRow>;
  return parquetWriteBuffer({ schema: parquetSchema(), columnData: names.map((name) => ({ name, data: rows.map((r) => r[name]) as any })) });
}

export function writeAtomically(file: string, data: string | Uint8Array): void {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temp, data);
    fs.renameSync(temp, file);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`cannot write ${file}${code === 'ENOSPC' ? ': the disk is full' : ''} (${code ?? (error as Error).message}); the run's state is kept, run again to finish`);
  }
}

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');

export function writeDataset(outDir: string, verdicts: Verdict[], format: 'jsonl' | 'parquet' | 'both' = 'both'): AcceptedRow[] {
  const rows = verdicts.filter((v) => v.accepted).map(toAcceptedRow);
  if (format !== 'parquet') writeAtomically(path.join(outDir, 'accepted.jsonl'), jsonl(rows));
  if (format !== 'jsonl') writeAtomically(path.join(outDir, 'accepted.parquet'), new Uint8Array(acceptedParquet(rows)));
  return rows;
}

/** Every verdict of the run, the source `grip export` re-derives the dataset from. */
export const VERDICTS_STATE_FILE = path.join('.grip', 'verdicts.jsonl');

export function readVerdicts(outDir: string): Verdict[] {
  const file = path.join(outDir, VERDICTS_STATE_FILE);
  if (!fs.existsSync(file)) throw new Error(`${outDir} holds no finished run (no ${VERDICTS_STATE_FILE}); run \`grip run --out ${outDir}\` first`);
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Verdict);
}

export function writeOutputs(outDir: string, out: { verdicts: Verdict[]; dlq: DlqRecord[]; report: RunReport }): void {
  writeAtomically(path.join(outDir, VERDICTS_STATE_FILE), jsonl(out.verdicts));
  writeDataset(outDir, out.verdicts);
  writeAtomically(path.join(outDir, 'rejected.jsonl'), jsonl(out.verdicts.filter((v) => !v.accepted).map(toRejectedRow)));
  writeAtomically(path.join(outDir, 'dlq.jsonl'), jsonl(out.dlq.map((d) => ({ ...d, input: withoutTimestamps(d.input) }))));
  writeAtomically(path.join(outDir, 'report.md'), renderReportMarkdown(out.report));
  // report.json last: its presence marks a finished run.
  writeAtomically(path.join(outDir, 'report.json'), `${JSON.stringify(out.report, null, 2)}\n`);
}
