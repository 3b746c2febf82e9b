/**
 * Reads a seed file (JSONL or CSV, plain or gzip) into validated seeds, with the line number of every bad line.
 * A field mapping that matches nothing is an error naming the fields the file does have.
 */
import fs from 'node:fs';
import path from 'node:path';
import { textLines } from '../../services/runtime/text-files.ts';
import { decodeRecord, validateSeed, type FieldMapping, type ValidSeed } from '../../core/seeds/index.ts';

export interface SeedLineProblem {
  line: number;
  reason: string;
  message: string;
  raw: string;
}

export interface SeedFileResult {
  seeds: Array<ValidSeed & { line: number }>;
  rejected: SeedLineProblem[];
  duplicates: number;
  lines: number;
}

export class SeedFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SeedFileError';
  }
}

/** Minimal RFC 4180 CSV row splitter (quoted fields, doubled quotes); rows spanning lines are not supported. */
function splitCsvRow(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') out.push(field), (field = '');
    else field += ch;
  }
  out.push(field);
  return out;
}

export async function readSeedFile(file: string, fields: FieldMapping, opts: { limit?: number; strict?: boolean } = {}): Promise<SeedFileResult> {
  if (!fs.existsSync(file)) throw new SeedFileError(`${file}: no such seed file`);
  const csv = path.extname(file.replace(/\.gz$/i, '')).toLowerCase() === '.csv';
  const result: SeedFileResult = { seeds: [], rejected: [], duplicates: 0, lines: 0 };
  const seen = new Set<string>();
  let header: string[] | undefined;
  let mappingChecked = false;
  const lines = textLines(file);
  for await (const raw of lines) {
    result.lines++;
    const line = result.lines;
    if (raw.trim() === '') continue;
    if (csv && !header) {
      header = splitCsvRow(raw);
      continue;
    }
    const decoded = csv ? { ok: true as const, record: Object.fromEntries(header!.map((h, i) => [h, splitCsvRow(raw)[i] ?? ''])) } : decodeRecord(raw);
    const check = decoded.ok ? validateSeed(decoded.record, fields) : decoded;
    if (decoded.ok && !mappingChecked) {
      mappingChecked = true;
      const missing = [fields.problem, fields.solution, ...(fields.id ? [fields.id] : [])].filter((f) => !(f in decoded.record));
      if (missing.length > 0) {
        throw new SeedFileError(
          `${file}: the field mapping does not match the file: no field ${missing.map((m) => `"${m}"`).join(', ')}; ` +
            `its records have: ${Object.keys(decoded.record).join(', ')}. Map them with --problem-field, --solution-field, --id-field.`,
        );
      }
    }
    if (!check.ok) {
      const problem = { line, reason: check.reason, message: check.message, raw: raw.length > 2000 ? `${raw.slice(0, 2000)}…` : raw };
      if (opts.strict) throw new SeedFileError(`${file}:${line}: ${check.message} (--strict stops at the first bad line)`);
      result.rejected.push(problem);
      continue;
    }
    if (seen.has(check.seed.seed_id)) {
      result.duplicates++;
      continue;
    }
    seen.add(check.seed.seed_id);
    result.seeds.push({ ...check.seed, line });
    if (opts.limit !== undefined && result.seeds.length >= opts.limit) break;
  }
  lines.close();
  return result;
}
