/**
 * A stage declared `scaling: 'one'` (concept-graph, the judge) runs as exactly one active instance:
 * a second instance waits as a standby (/healthz `standby`) and takes over when the first dies,
 * and the two are never active at once. Real processes (`grip services run concept-graph`) on the
 * local stack; the first is killed with SIGKILL, so the takeover rests on the broker's session
 * timeout, as after a crash in production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GRIP, servicesEnv, waitFor } from '../e2e/pipeline-helpers.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-single-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function instance(name: string, portBase: number) {
  const env = servicesEnv(path.join(work, name), portBase);
  const port = Number(env.GRIP_CONCEPT_GRAPH_PORT);
  const log = fs.openSync(path.join(work, `${name}.log`), 'a');
  const child = spawn(process.execPath, [GRIP, 'services', 'run', 'concept-graph'], { env, stdio: ['ignore', log, log] });
  children.push(child);
  const status = async (): Promise<string> => {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
      return ((await res.json()) as { status: string }).status;
    } catch {
      return 'down';
    }
  };
  return { child, status, log: () => fs.readFileSync(path.join(work, `${name}.log`), 'utf8') };
}

describe('one active instance of a one-instance stage', () => {
  it('a second instance is a standby, never active beside the first, and takes over when the first dies', async () => {
    const a = instance('a', 19600);
    await waitFor('the first instance to be active', async () => (await a.status()) === 'ok', 120_000, 500);
    const b = instance('b', 19620);
    await waitFor('the second instance to report standby', async () => (await b.status()) === 'standby', 120_000, 500);

    // For a while, exactly one is active.
    for (let i = 0; i < 10; i++) {
      const both = await Promise.all([a.status(), b.status()]);
      expect(both.filter((s) => s === 'ok'), `statuses ${both.join(', ')}`).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 300));
    }

    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await waitFor('the standby to take over', async () => (await b.status()) === 'ok', 60_000, 250);
    const takeover = (Date.now() - killedAt) / 1000;
    expect(takeover, b.log()).toBeLessThan(45);
    expect(b.log()).toMatch(/holds the lease: active/);
    b.child.kill('SIGTERM');
    await new Promise((r) => b.child.once('exit', r));
  }, 300_000);
});
