/**
 * `grip services up|down|status`: every service as a local background process. Each runs
 * `grip services run <name>` with its output in <GRIP_STATE_DIR>/logs/<name>.log and its pid and
 * settings recorded in <GRIP_STATE_DIR>/run/<name>.json. Processes are stopped by recorded pid only
 * (SIGTERM: the service drains, commits and disconnects; SIGKILL after a timeout).
 */
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
}

export interface ServiceState {
  name: ServiceName;
  running: boolean;
  healthy: boolean;
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

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

export async function serviceState(config: GripConfig, name: ServiceName): Promise<ServiceState> {
  const record = readRecord(config, name);
  const running = record !== null && isAlive(record.pid);
  return { name, running, healthy: running && (await healthy(record!.url)), record };
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
}

/** Starts one service in the background unless it runs already; resolves when it is healthy. */
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
  const record: ServiceRecord = { name, pid: child.pid!, started_at: new Date().toISOString(), settings_file: settingsFile, url, log };
  fs.writeFileSync(recordFile(config, name), `${JSON.stringify(record, null, 2)}\n`);

  const deadline = Date.now() + (opts.timeoutMs ?? 180_000);
  while (Date.now() < deadline) {
    if (!isAlive(record.pid)) throw new ServicesError(`${name} exited during start; the end of ${log}:\n${logTail(log)}`);
    if (await healthy(url)) return { started: true, record };
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new ServicesError(`${name} did not report healthy at ${url}/healthz within ${Math.round((opts.timeoutMs ?? 180_000) / 1000)} s; the end of ${log}:\n${logTail(log)}`);
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
export async function stopService(config: GripConfig, name: ServiceName, graceMs = 30_000): Promise<boolean> {
  const record = readRecord(config, name);
  if (!record || !isAlive(record.pid)) {
    fs.rmSync(recordFile(config, name), { force: true });
    return false;
  }
  process.kill(record.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(record.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (isAlive(record.pid)) {
    process.kill(record.pid, 'SIGKILL');
    while (isAlive(record.pid)) await new Promise((r) => setTimeout(r, 100));
  }
  fs.rmSync(recordFile(config, name), { force: true });
  return true;
}
