/**
 * `grip services up` leaves a supervisor behind: a service killed with SIGKILL comes back by
 * itself within 30 s, with the settings file the group was started with; another --config while
 * the group runs is refused; `down` stops the supervisor, then the services; a recorded pid now
 * held by another process is never signalled. seed-ingest is the service used (it needs only Kafka
 * and the registry), on a port of this test's own, with its own state directory.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../services/runtime/config.ts';
import { isAlive, processStartTime } from '../../cli/ops/manager.ts';

const GRIP = path.join(REPO_ROOT, 'bin', 'grip.mjs');
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-supervisor-'));
const env = { ...process.env, GRIP_STATE_DIR: stateDir, GRIP_SEED_INGEST_PORT: String(9700 + (process.pid % 10) + 1) };
const grip = (...args: string[]) => {
  const r = spawnSync(process.execPath, [GRIP, ...args], { encoding: 'utf8', env, timeout: 300_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};
const status = () => JSON.parse(grip('services', 'status', '--json').stdout);
const environOf = (pid: number) => Object.fromEntries(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const settings = (name: string, threshold: number) => {
  const file = path.join(stateDir, name);
  fs.writeFileSync(file, `judging:\n  threshold: ${threshold}\n`);
  return file;
};

afterAll(() => {
  grip('services', 'down');
});

describe('grip services supervision', () => {
  it('a SIGKILLed service comes back by itself within 30 s, with its original settings', async () => {
    const original = settings('strict.yaml', 0.9);
    const up = grip('services', 'up', '--only', 'seed-ingest', '--config', original);
    expect(up.status, up.stderr + up.stdout).toBe(0);
    const before = status();
    expect(before['seed-ingest']).toMatchObject({ running: true, healthy: true, restarts: 0, settings_file: original });
    expect(before.supervisor.running).toBe(true);

    const killedAt = Date.now();
    process.kill(before['seed-ingest'].pid, 'SIGKILL');
    let after = before;
    while (Date.now() - killedAt < 30_000) {
      after = status();
      if (after['seed-ingest'].healthy && after['seed-ingest'].pid !== before['seed-ingest'].pid) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(after['seed-ingest'], 'back within 30 s').toMatchObject({ running: true, healthy: true, restarts: 1, settings_file: original });
    expect(after['seed-ingest'].pid).not.toBe(before['seed-ingest'].pid);
    // the process itself runs with the settings file the group was started with
    expect(environOf(after['seed-ingest'].pid).GRIP_CONFIG).toBe(original);
    process.stdout.write(`seed-ingest back, healthy, after ${((Date.now() - killedAt) / 1000).toFixed(1)} s\n`);
  }, 120_000);

  it('refuses another --config while the group runs, unless --restart-all', () => {
    const other = settings('lenient.yaml', 0.5);
    const refused = grip('services', 'up', '--only', 'seed-ingest', '--config', other);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/would mix two settings in one group.*--restart-all/s);
    // without --config, up keeps the group's settings
    const plain = grip('services', 'up', '--only', 'seed-ingest');
    expect(plain.status, plain.stderr).toBe(0);
    expect(status()['seed-ingest'].settings_file).toBe(path.join(stateDir, 'strict.yaml'));
    const restarted = grip('services', 'up', '--only', 'seed-ingest', '--config', other, '--restart-all');
    expect(restarted.status, restarted.stderr).toBe(0);
    expect(status()['seed-ingest']).toMatchObject({ running: true, settings_file: other });
  }, 180_000);

  it('down stops the supervisor first, then the services; a pid reused by another process is not signalled', async () => {
    // a record whose pid now belongs to someone else (same pid, other start time)
    const stranger = spawn('sleep', ['60'], { stdio: 'ignore' });
    const record = JSON.parse(fs.readFileSync(path.join(stateDir, 'run', 'seed-ingest.json'), 'utf8'));
    const down = grip('services', 'down');
    expect(down.status, down.stderr).toBe(0);
    expect(down.stdout.indexOf('supervisor')).toBeLessThan(down.stdout.indexOf('seed-ingest'));
    expect(isAlive(record.pid)).toBe(false);
    expect(status().supervisor.running).toBe(false);

    fs.writeFileSync(path.join(stateDir, 'run', 'seed-ingest.json'), JSON.stringify({ ...record, pid: stranger.pid, start_time: String(Number(processStartTime(stranger.pid!)) - 1) }));
    expect(status()['seed-ingest'].running).toBe(false);
    const again = grip('services', 'down', '--only', 'seed-ingest');
    expect(again.stdout).toMatch(/seed-ingest\s+not running/);
    expect(isAlive(stranger.pid!)).toBe(true);
    stranger.kill();
  }, 120_000);
});
