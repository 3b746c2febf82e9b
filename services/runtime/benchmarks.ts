/**
 * I/O edge of decontamination: reads benchmark JSONL files into BenchmarkRecords for core/decontam.
 * Errors name the file and the 1-based line, and for a missing field the fields the record does have.
 */
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createNgramIndex, type BenchmarkRecord, type NgramIndex } from '../../core/decontam/index.ts';
import { REPO_ROOT } from './config.ts';

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

/** The shared data root, ../shared/data next to the repository. */
export const SHARED_DATA_DIR = path.join(REPO_ROOT, '..', 'shared', 'data');

export function defaultBenchmarks(dataDir: string = SHARED_DATA_DIR): BenchmarkSpec[] {
  return [
    { source: 'math', file: path.join(dataDir, 'math', 'test.jsonl'), textField: 'problem', idsFile: path.join(dataDir, 'math', 'test.files.txt') },
    { source: 'math500', file: path.join(dataDir, 'math500', 'test.jsonl'), textField: 'problem', idField: 'unique_id' },
    { source: 'gsm8k', file: path.join(dataDir, 'gsm8k', 'test.jsonl'), textField: 'question' },
  ];
}

export const DEFAULT_BENCHMARKS: readonly BenchmarkSpec[] = defaultBenchmarks();

export async function loadBenchmarkRecords(
  file: string,
  opts: { textField: string; idField?: string; source: string; idsFile?: string },
): Promise<BenchmarkRecord[]> {
  if (!opts?.textField || !opts.source) throw new BenchmarkFileError(`${file}: textField and source are required`);
  if (!existsSync(file)) throw new BenchmarkFileError(`${file}: benchmark file not found`);
  const sidecar = opts.idsFile && existsSync(opts.idsFile) ? readFileSync(opts.idsFile, 'utf8').split('\n') : null;
  const records: BenchmarkRecord[] = [];
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
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

export interface Decontamination {
  /** The n-gram index over every set that was loaded; null when none was. */
  index: NgramIndex | null;
  /** Sets that were skipped, as "source (file)". */
  skipped: string[];
}

/**
 * The decontamination index every consumer of the benchmark sets builds the same way (the judge
 * stage, `grip run`'s report, `grip report --from clickhouse`): the sets of the settings; a missing
 * built-in default set is skipped with a warning, a set the user named must load.
 */
export function loadDecontamination(settings: { benchmarks: readonly BenchmarkSpec[]; defaultBenchmarks: boolean }, warn: (message: string) => void): Promise<Decontamination> {
  // Built once per settings object: in `grip run` the judge stage and the report share it.
  let loading = decontaminationBySettings.get(settings);
  if (!loading) decontaminationBySettings.set(settings, (loading = buildDecontamination(settings, warn)));
  return loading;
}

const decontaminationBySettings = new WeakMap<object, Promise<Decontamination>>();

async function buildDecontamination(settings: { benchmarks: readonly BenchmarkSpec[]; defaultBenchmarks: boolean }, warn: (message: string) => void): Promise<Decontamination> {
  const missing = settings.defaultBenchmarks ? settings.benchmarks.filter((b) => !existsSync(b.file)) : [];
  for (const b of missing) warn(`decontamination set ${b.source} not found at ${b.file}; skipped`);
  const present = settings.benchmarks.filter((b) => !missing.includes(b));
  return { index: present.length > 0 ? createNgramIndex(await loadBenchmarks(present)) : null, skipped: missing.map((b) => `${b.source} (${b.file})`) };
}
