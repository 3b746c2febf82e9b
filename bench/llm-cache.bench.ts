/**
 * `npm run bench:llm-cache`: what a service pays at start for its LLM answer cache at 1M answers,
 * before (bench/baseline/jsonl-llm-cache.ts: one JSONL file read whole into memory) and after
 * (services/runtime/file-llm-cache.ts: the on-disk store with an index).
 *
 * Writes N answers (default 1,000,000, ~330 bytes of content each, the size of a short JSON answer)
 * as the old JSONL file, then in separate child processes (so each RSS is its own): opens the cache
 * the old way and looks 1,000 keys up; migrates the JSONL into the store (once, the first start of
 * the new version); opens the store and looks the same 1,000 keys up (three times). A child that
 * opens nothing gives the process's own baseline RSS. Results: bench/results/llm-cache.json and .md.
 *
 * Options: --entries N, --dir D (default: a temporary directory, removed at the end).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1]!;
};
const keyOf = (i: number) => `stage:prompt-v1:model:${i.toString(16).padStart(12, '0')}`;
const LOOKUPS = 1000;

interface ChildResult {
  mode: string;
  open_seconds: number;
  lookup_seconds: number;
  found: number;
  entries: number;
  rss_mb: number;
  max_rss_mb: number;
  error?: string;
}

async function child(mode: string, file: string, entries: number): Promise<void> {
  const t0 = performance.now();
  let cache: { get(k: string): unknown; size: number; close(): void } | undefined;
  try {
    if (mode === 'old') cache = new (await import('./baseline/jsonl-llm-cache.ts')).JsonlLlmCache(file);
    else if (mode !== 'empty') cache = new (await import('../services/runtime/file-llm-cache.ts')).FileLlmCache(file);
  } catch (error) {
    process.stdout.write(JSON.stringify({ mode, error: (error as Error).message.slice(0, 200), rss_mb: process.memoryUsage().rss / 2 ** 20, max_rss_mb: process.resourceUsage().maxRSS / 1024 }));
    return;
  }
  const t1 = performance.now();
  let found = 0;
  for (let i = 0; i < LOOKUPS; i++) if (cache?.get(keyOf(Math.floor((i * entries) / LOOKUPS)))) found++;
  const t2 = performance.now();
  const result: ChildResult = {
    mode,
    open_seconds: (t1 - t0) / 1000,
    lookup_seconds: (t2 - t1) / 1000,
    found,
    entries: cache?.size ?? 0,
    rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20),
    max_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  cache?.close();
  process.stdout.write(JSON.stringify(result));
}

function runChild(mode: string, file: string, entries: number): ChildResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', mode, '--file', file, '--entries', String(entries)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) return { mode, error: (r.stderr || `exit ${r.status}`).slice(-300) } as ChildResult;
  return JSON.parse(r.stdout) as ChildResult;
}

async function main(): Promise<void> {
  const entries = Number(arg('--entries', '1000000'));
  if (process.argv.includes('--child')) return child(arg('--child', ''), arg('--file', ''), entries);
  const ownDir = !process.argv.includes('--dir');
  const dir = ownDir ? fs.mkdtempSync(path.join(os.tmpdir(), 'grip-cache-bench-')) : arg('--dir', '');
  const file = path.join(dir, 'llm-cache.jsonl');
  try {
    const content = JSON.stringify({ problem: 'x'.repeat(200), answer: 'y'.repeat(100) });
    const out = fs.openSync(file, 'w');
    let lines: string[] = [];
    for (let i = 0; i < entries; i++) {
      lines.push(JSON.stringify({ key: keyOf(i), content, model: 'bench-model', promptTokens: 120, completionTokens: 80 }));
      if (lines.length === 10_000 || i === entries - 1) {
        fs.writeSync(out, `${lines.join('\n')}\n`);
        lines = [];
      }
    }
    fs.closeSync(out);
    const jsonlBytes = fs.statSync(file).size;
    process.stderr.write(`wrote ${entries} answers, ${(jsonlBytes / 2 ** 20).toFixed(0)} MiB of JSONL\n`);
    const empty = runChild('empty', file, entries);
    const before = runChild('old', file, entries);
    process.stderr.write(`before: ${JSON.stringify(before)}\n`);
    const migration = runChild('new', file, entries);
    process.stderr.write(`migration: ${JSON.stringify(migration)}\n`);
    const after = [1, 2, 3].map(() => runChild('new', file, entries));
    process.stderr.write(`after: ${JSON.stringify(after)}\n`);
    const base = path.join(dir, 'llm-cache');
    const result = {
      entries,
      jsonl_mib: +(jsonlBytes / 2 ** 20).toFixed(1),
      store_data_mib: +(fs.statSync(`${base}.data`).size / 2 ** 20).toFixed(1),
      store_index_mib: +(fs.statSync(`${base}.index`).size / 2 ** 20).toFixed(1),
      lookups: LOOKUPS,
      node: process.version,
      cpus: os.cpus().length,
      empty_process: empty,
      before,
      migration,
      after,
    };
    const resultsDir = path.join(HERE, 'results');
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.writeFileSync(path.join(resultsDir, 'llm-cache.json'), `${JSON.stringify(result, null, 2)}\n`);
    const row = (name: string, r: ChildResult) => `| ${name} | ${r.error ? `failed: ${r.error.split('\n')[0]}` : r.open_seconds.toFixed(3)} | ${r.error ? '' : (r.lookup_seconds * 1000).toFixed(1)} | ${r.rss_mb ?? ''} | ${r.max_rss_mb ?? ''} |`;
    const md = [
      `# LLM answer cache at ${entries.toLocaleString('en')} answers`,
      '',
      `JSONL ${result.jsonl_mib} MiB; store: data ${result.store_data_mib} MiB + index ${result.store_index_mib} MiB. Node ${process.version}, ${os.cpus().length} CPUs (shared).`,
      '',
      `| process | open (s) | ${LOOKUPS} lookups (ms) | RSS after (MiB) | peak RSS (MiB) |`,
      '| --- | --- | --- | --- | --- |',
      row('nothing opened (baseline of the process)', empty),
      row('before: JSONL read whole', before),
      row('first start after: migrating the JSONL', migration),
      ...after.map((r, i) => row(`after: on-disk store, start ${i + 1}`, r)),
      '',
    ].join('\n');
    fs.writeFileSync(path.join(resultsDir, 'llm-cache.md'), md);
    process.stdout.write(md);
  } finally {
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
