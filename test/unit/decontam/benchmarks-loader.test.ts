import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BENCHMARKS, defaultBenchmarks, loadBenchmarkRecords, loadBenchmarks } from '../../../services/runtime/benchmarks.ts';
import { REPO_ROOT } from '../../../services/runtime/config.ts';

// The originals beside the main checkout (a worktree sits one level deeper).
const SHARED_DATA = [path.join(REPO_ROOT, '..', 'shared', 'data'), path.join(REPO_ROOT, '..', '..', 'shared', 'data')].find((d) => existsSync(d)) ?? path.join(REPO_ROOT, '..', 'shared', 'data');

const tmp = mkdtempSync(path.join(os.tmpdir(), 'grip-bench-'));
const write = (name: string, body: string) => {
  const file = path.join(tmp, name);
  writeFileSync(file, body);
  return file;
};

describe('loadBenchmarkRecords', () => {
  it('reads ids from a field, else from line numbers, skipping blank lines', async () => {
    const file = write('ok.jsonl', '{"q":"first","uid":"u1"}\n\n{"q":"second","uid":7}\n');
    expect(await loadBenchmarkRecords(file, { textField: 'q', idField: 'uid', source: 's' })).toEqual([
      { id: 'u1', text: 'first', source: 's' },
      { id: '7', text: 'second', source: 's' },
    ]);
    expect((await loadBenchmarkRecords(file, { textField: 'q', source: 's' })).map((r) => r.id)).toEqual(['s:1', 's:3']);
  });

  it('names file and line for bad JSON, and the available fields for a missing one', async () => {
    const bad = write('bad.jsonl', '{"q":"fine"}\n{"q": oops}\n');
    await expect(loadBenchmarkRecords(bad, { textField: 'q', source: 's' })).rejects.toThrow(`${bad}:2: invalid JSON`);
    const missing = write('missing.jsonl', '{"q":"fine"}\n{"question":"x","answer":"4"}\n');
    await expect(loadBenchmarkRecords(missing, { textField: 'q', source: 's' })).rejects.toThrow(
      `${missing}:2: missing text field "q" (the record has: question, answer)`,
    );
    await expect(loadBenchmarkRecords(path.join(tmp, 'nope.jsonl'), { textField: 'q', source: 's' })).rejects.toThrow(/not found/);
    const arr = write('arr.jsonl', '[1,2]\n');
    await expect(loadBenchmarkRecords(arr, { textField: 'q', source: 's' })).rejects.toThrow(`${arr}:1: expected a JSON object, got an array`);
  });

  it('default benchmarks are the gzip sets shipped in data/benchmarks and load MATH, MATH-500 and GSM8K', async () => {
    expect(DEFAULT_BENCHMARKS.map((b) => path.relative(REPO_ROOT, b.file))).toEqual([
      'data/benchmarks/math/test.jsonl.gz',
      'data/benchmarks/math500/test.jsonl.gz',
      'data/benchmarks/gsm8k/test.jsonl.gz',
    ]);
    const all = await loadBenchmarks();
    const bySource = (s: string) => all.filter((r) => r.source === s);
    expect(bySource('math')).toHaveLength(5000);
    expect(bySource('math')[0].id).toMatch(/^test\/algebra\/\d+\.json$/);
    expect(bySource('math500')).toHaveLength(500);
    expect(bySource('gsm8k')).toHaveLength(1319);
    expect(bySource('math500')[0].id).toMatch(/^test\/[a-z_]+\/\d+\.json$/);
    expect(bySource('gsm8k')[0].id).toBe('gsm8k:1');
  });

  it('the shipped copies hold the same records as the shared originals (only tests read ../shared)', async () => {
    const shared = defaultBenchmarks(SHARED_DATA).map((b) => ({ ...b, file: b.file.replace(/\.gz$/, ''), idsFile: b.idsFile?.replace(/\.gz$/, '') }));
    expect(await loadBenchmarks(shared)).toEqual(await loadBenchmarks());
  });

  it('reads gzip files and a gzip id sidecar', async () => {
    const file = path.join(tmp, 'z.jsonl.gz');
    writeFileSync(file, gzipSync('{"q":"first"}\n{"q":"second"}\n'));
    const ids = path.join(tmp, 'z.ids.gz');
    writeFileSync(ids, gzipSync('a\nb\n'));
    expect(await loadBenchmarkRecords(file, { textField: 'q', source: 's', idsFile: ids })).toEqual([
      { id: 'a', text: 'first', source: 's' },
      { id: 'b', text: 'second', source: 's' },
    ]);
  });
});
