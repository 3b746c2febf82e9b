/**
 * The pipeline commands refuse bad arguments with a message naming what was wrong, before they
 * touch Kafka or any process (nothing runs here).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../cli/main.ts';
import { isAlive } from '../../../cli/ops/manager.ts';

async function run(...args: string[]): Promise<{ code: number; stderr: string }> {
  const err: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true));
  try {
    const code = await main(['node', 'grip', ...args]);
    return { code, stderr: err.join('') };
  } finally {
    spy.mockRestore();
    process.exitCode = undefined;
  }
}

afterEach(() => vi.restoreAllMocks());

describe('grip replay / services / seed add: bad arguments', () => {
  it('replay names an unknown stage and lists the stages', async () => {
    const r = await run('replay', '--stage', 'jduge', '--from-offset', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--stage: unknown stage "jduge" \(stages: concept-extractor, concept-graph, problem-synth, judge, clickhouse-sink\)/);
  });

  it('replay of seed-ingest says why it cannot be replayed', async () => {
    const r = await run('replay', '--stage', 'seed-ingest', '--from-offset', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/seed-ingest reads no topic/);
  });

  it('replay needs a starting point, and only one', async () => {
    expect((await run('replay', '--stage', 'judge')).stderr).toMatch(/give --from-offset N or --from-time T/);
    expect((await run('replay', '--stage', 'judge', '--from-offset', '0', '--from-time', '2026-01-01')).stderr).toMatch(/cannot be used with/);
    expect((await run('replay', '--stage', 'judge', '--from-offset', '-3')).stderr).toMatch(/--from-offset must be a non-negative integer/);
    expect((await run('replay', '--stage', 'judge', '--from-time', 'yesterday')).stderr).toMatch(/--from-time: expected ISO 8601/);
  });

  it('replay --config validates the settings file before stopping anything', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'grip-ops-')), 'bad.yaml');
    fs.writeFileSync(file, 'judging:\n  threshold: 7\n');
    const r = await run('replay', '--stage', 'judge', '--from-offset', '0', '--config', file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/judging\.threshold/);
  });

  it('services up --only names an unknown service; services run too', async () => {
    expect((await run('services', 'up', '--only', 'judge,nope')).stderr).toMatch(/--only: unknown service "nope"/);
    expect((await run('services', 'run', 'nope')).stderr).toMatch(/unknown service "nope"/);
  });

  it('seed add names a missing file', async () => {
    const r = await run('seed', 'add', '/nonexistent/seeds.jsonl');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\/nonexistent\/seeds\.jsonl: no such seed file/);
  });
});

describe('process liveness', () => {
  it('this process is alive; a pid that does not exist is not', () => {
    expect(isAlive(process.pid)).toBe(true);
    expect(isAlive(2 ** 22 + 12345)).toBe(false);
  });
});
