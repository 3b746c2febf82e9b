/**
 * The services group and its supervisor. `grip services up` records the group
 * (<GRIP_STATE_DIR>/run/group.json: the settings file it was started with and its services) and
 * starts one supervisor, a detached `grip services supervise` process (run/supervisor.json, log
 * logs/supervisor.log). The supervisor checks every second that each service of the group whose
 * record says it should run is running (same pid and start time); one that died is started again
 * with the settings file of its record, at once the first time, then after 1, 2, 4 ... 60 s while
 * it keeps dying within a minute. `down` stops the supervisor first, then the services; a service
 * stopped on purpose (`down --only`, `replay`) is marked in its record and left alone.
 *
 * A group that runs keeps its settings: `up --config F` with another F is an error unless
 * `--restart-all`, and `up` without --config starts missing services with the group's settings.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, type GripConfig } from '../../services/runtime/config.ts';
import type { ServiceName } from '../../services/stages.ts';
import { isSameProcess, processStartTime, readRecord, runFile, serviceState, ServicesError, startService, stopProcess, stopService, type ServiceRecord } from './manager.ts';

export interface GroupRecord {
  settings_file: string | null;
  services: ServiceName[];
  started_at: string;
}

export interface SupervisorRecord {
  pid: number;
  start_time: string | null;
  started_at: string;
  log: string;
}

const readJson = <T>(file: string): T | null => {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
};
const writeJson = (file: string, value: unknown) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
};

export const readGroup = (config: GripConfig) => readJson<GroupRecord>(runFile(config, 'group.json'));
export const readSupervisor = (config: GripConfig) => readJson<SupervisorRecord>(runFile(config, 'supervisor.json'));

export function supervisorRunning(config: GripConfig): SupervisorRecord | null {
  const s = readSupervisor(config);
  return s && isSameProcess(s.pid, s.start_time) ? s : null;
}

/** Delay before restart number `failures` + 1 of a service that keeps dying: 0, 1, 2, 4 ... 60 s. */
export function restartDelayMs(failures: number): number {
  return failures === 0 ? 0 : Math.min(60_000, 1000 * 2 ** (failures - 1));
}

export interface UpOptions {
  settingsFile?: string;
  restartAll?: boolean;
  log: (line: string) => void;
}

/**
 * Starts the services not running, with the group's settings, and the supervisor. Checks the
 * settings before anything starts: refusing to mix two settings files in one group.
 */
export async function upGroup(config: GripConfig, names: ServiceName[], all: ServiceName[], opts: UpOptions): Promise<Array<{ name: ServiceName; started: boolean; record: ServiceRecord }>> {
  const requested = opts.settingsFile ? path.resolve(opts.settingsFile) : undefined;
  const states = await Promise.all(all.map((n) => serviceState(config, n)));
  const running = states.filter((s) => s.running);
  let group = readGroup(config);
  const groupSettings = group ? group.settings_file : (running[0]?.record?.settings_file ?? null);
  if (running.length > 0 && requested !== undefined && requested !== groupSettings) {
    if (!opts.restartAll) {
      throw new ServicesError(
        `the services run with settings ${groupSettings ?? '(built-in defaults)'}; --config ${requested} would mix two settings in one group. ` +
          'Add --restart-all to restart every service with the new settings, or leave --config out.',
      );
    }
    await downGroup(config, all, opts.log);
    group = null;
  }
  // No --config: the group's settings if it has run, else GRIP_CONFIG (as every service reads it).
  const settings = requested ?? (group ? group.settings_file : config.services.settingsFile) ?? undefined;
  group = { settings_file: settings ?? null, services: [...new Set([...(group?.services ?? []), ...names])], started_at: group?.started_at ?? new Date().toISOString() };
  writeJson(runFile(config, 'group.json'), group);
  const out = [];
  for (const name of names) {
    // A crashed service comes back with the settings it ran with (a replay may have given it others).
    const crashed = readRecord(config, name);
    const own = crashed && !crashed.stopping && requested === undefined ? (crashed.settings_file ?? undefined) : settings;
    out.push({ name, ...(await startService(config, name, { settingsFile: own })) });
  }
  await startSupervisor(config);
  return out;
}

/** Stops the supervisor, then the services (upstream first, so downstream stages can drain). */
export async function downGroup(config: GripConfig, names: ServiceName[], log: (line: string) => void, whole = true): Promise<void> {
  if (whole) {
    const s = readSupervisor(config);
    if (s && (await stopProcess(s.pid, s.start_time, 10_000))) log(`${'supervisor'.padEnd(18)} stopped`);
    fs.rmSync(runFile(config, 'supervisor.json'), { force: true });
  }
  for (const name of names) log(`${name.padEnd(18)} ${(await stopService(config, name)) ? 'stopped' : 'not running'}`);
  if (whole) fs.rmSync(runFile(config, 'group.json'), { force: true });
}

async function startSupervisor(config: GripConfig): Promise<void> {
  if (supervisorRunning(config)) return;
  const log = path.join(config.services.stateDir, 'logs', 'supervisor.log');
  fs.mkdirSync(path.dirname(log), { recursive: true });
  const out = fs.openSync(log, 'a');
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'grip.mjs'), 'services', 'supervise'], { detached: true, stdio: ['ignore', out, out], env: process.env, cwd: process.cwd() });
  fs.closeSync(out);
  child.unref();
  writeJson(runFile(config, 'supervisor.json'), { pid: child.pid!, start_time: processStartTime(child.pid!) ?? null, started_at: new Date().toISOString(), log } satisfies SupervisorRecord);
}

/** The supervisor's loop (`grip services supervise`): runs until SIGTERM / SIGINT. */
export async function supervise(config: GripConfig, opts: { intervalMs?: number; signal?: AbortSignal } = {}): Promise<void> {
  const log = (line: string) => process.stdout.write(`${new Date().toISOString()} supervisor: ${line}\n`);
  const stop = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => stop.abort());
  opts.signal?.addEventListener('abort', () => stop.abort());
  const failures = new Map<ServiceName, number>();
  const nextAt = new Map<ServiceName, number>();
  log(`watching the services of ${runFile(config, 'group.json')}`);
  while (!stop.signal.aborted) {
    for (const name of readGroup(config)?.services ?? []) {
      const record = readRecord(config, name);
      if (!record || record.stopping) continue; // never started, or stopped on purpose
      if (isSameProcess(record.pid, record.start_time)) {
        // Up for a minute: its earlier crashes no longer count towards the backoff.
        if (Date.now() - Date.parse(record.started_at) > 60_000) failures.delete(name);
        continue;
      }
      if (Date.now() < (nextAt.get(name) ?? 0)) continue;
      const n = failures.get(name) ?? 0;
      failures.set(name, n + 1);
      nextAt.set(name, Date.now() + restartDelayMs(n + 1));
      log(`${name} (pid ${record.pid}) is not running: starting it again with settings ${record.settings_file ?? '(built-in defaults)'}, restart ${(record.restarts ?? 0) + 1}`);
      try {
        await startService(config, name, { settingsFile: record.settings_file ?? undefined, restarts: (record.restarts ?? 0) + 1, noWait: true });
      } catch (error) {
        log(`${name}: could not start: ${(error as Error).message}`);
      }
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
  }
  log('stopped');
}
