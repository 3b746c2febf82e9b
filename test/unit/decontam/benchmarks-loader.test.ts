import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BENCHMARKS, defaultBenchmarks, loadBenchmarkRecords, loadBenchmarks } from '../../../services/runtime/benchmarks.ts';
import { REPO_ROOT } from '../../../services/runtime/config.ts';

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

  it('default benchmarks resolve under ../shared/data and load MATH, MATH-500 and GSM8K', async () => {
    expect(DEFAULT_BENCHMARKS.map((b) => b.file)).toEqual(defaultBenchmarks(path.join(REPO_ROOT, '..', 'shared', 'data')).map((b) => b.file));
    const all = await loadBenchmarks();
    const bySource = (s: string) => all.filter((r) => r.source === s);
    expect(bySource('math')).toHaveLength(5000);
    expect(bySource('math500')).toHaveLength(500);
    expect(bySource('gsm8k')).toHaveLength(1319);
    expect(bySource('math500')[0].id).toMatch(/^test\/[a-z_]+\/\d+\.json$/);
    expect(bySource('gsm8k')[0].id).toBe('gsm8k:1');
  });
});
