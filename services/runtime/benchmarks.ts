/**
 * I/O edge of decontamination: reads benchmark JSONL files (plain or gzip) into BenchmarkRecords for core/decontam.
 * Errors name the file and the 1-based line, and for a missing field the fields the record does have.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createNgramIndex, type BenchmarkRecord, type NgramIndex } from '../../core/decontam/index.ts';
import { REPO_ROOT } from './config.ts';
import { readTextBytes, textLines } from './text-files.ts';

export interface BenchmarkSpec {
  source: string;
  file: string;
  textField: string;
  /** Field holding the item id; otherwise ids come from `idsFile` lines, else `<source>:<line>`. */
  idField?: string;
  /** A line-aligned sidecar of ids (e.g. math/test.files.txt); used only when it exists. */
  idsFile?: string;
}

export class BenchmarkFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchmarkFileError';
  }
}

/** The benchmark sets shipped inside the repository (data/README.md: sources, licences, sha256). */
export const BENCHMARKS_DIR = path.join(REPO_ROOT, 'data', 'benchmarks');

export function defaultBenchmarks(dataDir: string = BENCHMARKS_DIR): BenchmarkSpec[] {
  return [
    { source: 'math', file: path.join(dataDir, 'math', 'test.jsonl.gz'), textField: 'problem', idsFile: path.join(dataDir, 'math', 'test.files.txt.gz') },
    { source: 'math500', file: path.join(dataDir, 'math500', 'test.jsonl.gz'), textField: 'problem', idField: 'unique_id' },
    { source: 'gsm8k', file: path.join(dataDir, 'gsm8k', 'test.jsonl.gz'), textField: 'question' },
  ];
}

export const DEFAULT_BENCHMARKS: readonly BenchmarkSpec[] = defaultBenchmarks();

export async function loadBenchmarkRecords(
  file: string,
  opts: { textField: string; idField?: string; source: string; idsFile?: string },
): Promise<BenchmarkRecord[]> {
  if (!opts?.textField || !opts.source) throw new BenchmarkFileError(`${file}: textField and source are required`);
  if (!existsSync(file)) throw new BenchmarkFileError(`${file}: benchmark file not found`);
  const sidecar = opts.idsFile && existsSync(opts.idsFile) ? readTextBytes(opts.idsFile).toString('utf8').split('\n') : null;
  const records: BenchmarkRecord[] = [];
  const lines = textLines(file);
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new BenchmarkFileError(`${file}:${lineNo}: invalid JSON (${(err as Error).message})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new BenchmarkFileError(`${file}:${lineNo}: expected a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
    }
    const rec = value as Record<string, unknown>;
    const text = field(rec, opts.textField, file, lineNo, 'text');
    let id: string;
    if (opts.idField) id = field(rec, opts.idField, file, lineNo, 'id');
    else if (sidecar && sidecar[lineNo - 1]?.trim()) id = sidecar[lineNo - 1].trim();
    else id = `${opts.source}:${lineNo}`;
    records.push({ id, text, source: opts.source });
  }
  return records;
}

function field(rec: Record<string, unknown>, name: string, file: string, lineNo: number, role: string): string {
  const v = rec[name];
  if (v === undefined) {
    throw new BenchmarkFileError(`${file}:${lineNo}: missing ${role} field "${name}" (the record has: ${Object.keys(rec).join(', ') || 'no fields'})`);
  }
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') throw new BenchmarkFileError(`${file}:${lineNo}: ${role} field "${name}" must be a string, got ${typeof v}`);
  return v;
}

/** Loads every spec (default: MATH test, MATH-500, GSM8K test) in order. */
export async function loadBenchmarks(specs: readonly BenchmarkSpec[] = DEFAULT_BENCHMARKS): Promise<BenchmarkRecord[]> {
  const all: BenchmarkRecord[] = [];
  for (const s of specs) all.push(...(await loadBenchmarkRecords(s.file, s)));
  return all;
}

/**
 * The decontamination index every consumer of the benchmark sets builds the same way (the judge
 * stage, `grip run`'s report, `grip report --from clickhouse`): every set of the settings must load
 * (a set that cannot be read is an error naming the file); null when no set is configured. Built
 * once per settings object: in `grip run` the judge stage and the report share it.
 */
export function loadDecontamination(settings: { benchmarks: readonly BenchmarkSpec[] }): Promise<NgramIndex | null> {
  let loading = decontaminationBySettings.get(settings);
  if (!loading) {
    loading = settings.benchmarks.length > 0 ? loadBenchmarks(settings.benchmarks).then(createNgramIndex) : Promise.resolve(null);
    decontaminationBySettings.set(settings, loading);
  }
  return loading;
}

const decontaminationBySettings = new WeakMap<object, Promise<NgramIndex | null>>();
