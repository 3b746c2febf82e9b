/**
 * `grip services up|down|status`: every service as a local background process. Each runs
 * `grip services run <name>` with its output in <GRIP_STATE_DIR>/logs/<name>.log and its pid, its
 * process start time and its settings recorded in <GRIP_STATE_DIR>/run/<name>.json. A process is
 * known by its identity, pid AND start time (/proc/<pid>/stat): a pid reused by another program
 * after ours died is never taken for it, never signalled. Stopping: SIGTERM (the service drains,
 * commits and disconnects), SIGKILL after a timeout. supervisor.ts restarts crashed ones.
 */
import type { HealthReport } from '../../services/runtime/http.ts';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, type GripConfig } from '../../services/runtime/config.ts';
import { portOf, type ServiceName } from '../../services/stages.ts';

export interface ServiceRecord {
  name: ServiceName;
  pid: number;
  started_at: string;
  /** GRIP_CONFIG the process was started with. */
  settings_file: string | null;
  url: string;
  log: string;
  /** Start time of the process (field 22 of /proc/<pid>/stat, clock ticks since boot); null without procfs. */
  start_time?: string | null;
  /** Times the supervisor started this service again after it died. */
  restarts?: number;
  /** Set while `down` (or a replay) stops it on purpose: the supervisor leaves it alone. */
  stopping?: boolean;
}

export interface ServiceState {
  name: ServiceName;
  running: boolean;
  /** /healthz answered 200: doing its work (ok, or a standby). */
  healthy: boolean;
  /** What /healthz said (ok, standby, waiting, degraded, unhealthy, with dependency and reason), null if it did not answer. */
  health: HealthReport | null;
  record: ServiceRecord | null;
}

export class ServicesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServicesError';
  }
}

const runDir = (config: GripConfig) => path.join(config.services.stateDir, 'run');
const logDir = (config: GripConfig) => path.join(config.services.stateDir, 'logs');
export const runFile = (config: GripConfig, file: string) => path.join(runDir(config), file);
const recordFile = (config: GripConfig, name: ServiceName) => path.join(runDir(config), `${name}.json`);

export function readRecord(config: GripConfig, name: ServiceName): ServiceRecord | null {
  try {
    return JSON.parse(fs.readFileSync(recordFile(config, name), 'utf8')) as ServiceRecord;
  } catch {
    return null;
  }
}

/** True while the process exists and is not a zombie (an exited child nobody has reaped yet). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) STATE ...", comm may hold spaces or parentheses.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no procfs (macOS): signal 0 is all we know
  }
}

/** The start time of process `pid` (clock ticks since boot), or undefined when there is no such process or no procfs. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after "pid (comm)": state is field 3, starttime field 22
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** True while the process recorded as {pid, start_time} is the one still running (not a later process with its pid). */
export function isSameProcess(pid: number, startTime: string | null | undefined): boolean {
  if (!isAlive(pid)) return false;
  if (!startTime) return true; // recorded without procfs: the pid is all we know
  const now = processStartTime(pid);
  return now === undefined || now === startTime;
}

const recordAlive = (record: ServiceRecord) => isSameProcess(record.pid, record.start_time);

export function writeRecord(config: GripConfig, record: ServiceRecord): void {
  const file = recordFile(config, record.name);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file); // readers never see half a record
}

/** A service's /healthz answer: 200 or not, and its report; null when it does not answer. */
export async function probeHealth(url: string): Promise<{ ok: boolean; report: HealthReport } | null> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
    const report = (await res.json().catch(() => ({ status: res.ok ? 'ok' : 'unhealthy' }))) as HealthReport;
    return { ok: res.ok, report };
  } catch {
    return null;
  }
}

export async function healthy(url: string): Promise<boolean> {
  return (await probeHealth(url))?.ok ?? false;
}

/** Up: it answers and is not crashed (it may wait on a dependency, or be degraded: it says why). */
const isUp = (probe: Awaited<ReturnType<typeof probeHealth>>) => probe !== null && probe.report.status !== 'unhealthy';

export async function serviceState(config: GripConfig, name: ServiceName): Promise<ServiceState> {
  const record = readRecord(config, name);
  const running = record !== null && recordAlive(record);
  const probe = running ? await probeHealth(record!.url) : null;
  return { name, running, healthy: probe?.ok ?? false, health: probe?.report ?? null, record };
}

function logTail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface StartOptions {
  settingsFile?: string;
  /** How long to wait for /healthz. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Restarts so far, kept in the record (the supervisor's). */
  restarts?: number;
  /** Resolve once spawned instead of waiting for /healthz (the supervisor watches it itself). */
  noWait?: boolean;
}

/** Starts one service in the background unless it runs already; resolves when it answers /healthz alive (ok, standby, or waiting/degraded with its reason). */
export async function startService(config: GripConfig, name: ServiceName, opts: StartOptions = {}): Promise<{ started: boolean; record: ServiceRecord }> {
  const state = await serviceState(config, name);
  if (state.running) return { started: false, record: state.record! };
  fs.mkdirSync(runDir(config), { recursive: true });
  fs.mkdirSync(logDir(config), { recursive: true });
  const log = path.join(logDir(config), `${name}.log`);
  const out = fs.openSync(log, 'a');
  const settingsFile = opts.settingsFile ? path.resolve(opts.settingsFile) : (config.services.settingsFile ?? null);
  const env = { ...(opts.env ?? process.env) };
  if (settingsFile) env.GRIP_CONFIG = settingsFile;
  else delete env.GRIP_CONFIG;
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'grip.mjs'), 'services', 'run', name], { detached: true, stdio: ['ignore', out, out], env, cwd: process.cwd() });
  fs.closeSync(out);
  child.unref();
  const url = `http://${config.services.host === '0.0.0.0' ? '127.0.0.1' : config.services.host}:${portOf(config, name)}`;
  const record: ServiceRecord = { name, pid: child.pid!, start_time: processStartTime(child.pid!) ?? null, started_at: new Date().toISOString(), settings_file: settingsFile, url, log, restarts: opts.restarts ?? 0 };
  writeRecord(config, record);
  if (opts.noWait) return { started: true, record };

  const deadline = Date.now() + (opts.timeoutMs ?? 180_000);
  while (Date.now() < deadline) {
    if (!recordAlive(record)) throw new ServicesError(`${name} exited during start; the end of ${log}:\n${logTail(log)}`);
    if (isUp(await probeHealth(url))) return { started: true, record };
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new ServicesError(`${name} did not report healthy at ${url}/healthz within ${Math.round((opts.timeoutMs ?? 180_000) / 1000)} s; the end of ${log}:\n${logTail(log)}`);
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
export async function stopService(config: GripConfig, name: ServiceName, graceMs = 30_000): Promise<boolean> {
  const record = readRecord(config, name);
  if (!record || !recordAlive(record)) {
    fs.rmSync(recordFile(config, name), { force: true });
    return false;
  }
  writeRecord(config, { ...record, stopping: true });
  const stopped = await stopProcess(record.pid, record.start_time, graceMs);
  fs.rmSync(recordFile(config, name), { force: true });
  return stopped;
}

/** Stops the process {pid, startTime} if it is still that process: SIGTERM, SIGKILL after `graceMs`. */
export async function stopProcess(pid: number, startTime: string | null | undefined, graceMs = 30_000): Promise<boolean> {
  const same = () => isSameProcess(pid, startTime);
  if (!same()) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (same() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (same()) {
    process.kill(pid, 'SIGKILL');
    while (same()) await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}
