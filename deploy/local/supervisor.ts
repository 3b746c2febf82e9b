/**
 * A minimal process supervisor: starts a process detached in its own session (setsid semantics, so it
 * survives the CLI that started it), records it in a PID file, and stops it by that record only
 * (SIGTERM to its process group, SIGKILL after a timeout, then verifies it is gone). A record whose
 * PID now belongs to some other program (PID reuse) is never signalled.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface ProcessRecord {
  pid: number;
  /** The executable, as given to spawn; checked against /proc/<pid>/cmdline before any signal. */
  command: string;
  args: string[];
  startedAt: string;
  log: string;
}

export interface SpawnSpec {
  command: string;
  args: string[];
  cwd: string;
  env?: Record<string, string | undefined>;
}

export function readRecord(pidFile: string): ProcessRecord | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(pidFile, 'utf8')) as ProcessRecord;
    return Number.isInteger(parsed.pid) && parsed.pid > 1 ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function procState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3, after the parenthesised command name (which may itself contain spaces).
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** True when the PID is alive (not a zombie) and still runs the recorded program. */
export function isRecordAlive(record: ProcessRecord): boolean {
  const state = procState(record.pid);
  if (state === undefined || state === 'Z' || state === 'X') return false;
  try {
    const cmdline = fs.readFileSync(`/proc/${record.pid}/cmdline`, 'utf8');
    return cmdline.split('\0').some((part) => part === record.command || part.endsWith(path.basename(record.command)));
  } catch {
    return false;
  }
}

/** Starts the process detached, output appended to `log`, and writes its record to `pidFile`. */
export function spawnDetached(spec: SpawnSpec, pidFile: string, log: string): ProcessRecord {
  fs.mkdirSync(path.dirname(pidFile), { recursive: true });
  fs.mkdirSync(path.dirname(log), { recursive: true });
  const fd = fs.openSync(log, 'a');
  fs.writeSync(fd, `\n==== ${new Date().toISOString()} start: ${spec.command} ${spec.args.join(' ')}\n`);
  try {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      detached: true, // setsid(): own session and process group, no controlling terminal
      stdio: ['ignore', fd, fd],
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.command} (see ${log})`);
    child.on('error', () => undefined); // reported through the health wait and the log instead
    child.unref();
    const record: ProcessRecord = {
      pid: child.pid,
      command: spec.command,
      args: spec.args,
      startedAt: new Date().toISOString(),
      log,
    };
    fs.writeFileSync(pidFile, JSON.stringify(record, null, 2));
    return record;
  } finally {
    fs.closeSync(fd);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal); // the process group of a session leader started by spawnDetached
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

async function waitGone(record: ProcessRecord, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRecordAlive(record)) return true;
    await sleep(100);
  }
  return !isRecordAlive(record);
}

export type StopOutcome = 'not-running' | 'stopped' | 'killed';

/**
 * Stops the process recorded in pidFile: SIGTERM, then SIGKILL after `graceMs`; removes the record.
 * Throws when the process is still there after SIGKILL.
 */
export async function stopRecorded(pidFile: string, graceMs = 20_000): Promise<StopOutcome> {
  const record = readRecord(pidFile);
  if (!record || !isRecordAlive(record)) {
    fs.rmSync(pidFile, { force: true });
    return 'not-running';
  }
  signalGroup(record.pid, 'SIGTERM');
  if (await waitGone(record, graceMs)) {
    fs.rmSync(pidFile, { force: true });
    return 'stopped';
  }
  signalGroup(record.pid, 'SIGKILL');
  if (await waitGone(record, 5_000)) {
    fs.rmSync(pidFile, { force: true });
    return 'killed';
  }
  throw new Error(`process ${record.pid} (${record.command}) survived SIGKILL; record kept in ${pidFile}`);
}

/** Resolves true when nothing listens on host:port (we can bind it ourselves). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Last lines of a log file since the latest start marker, for error messages. */
export function tailOf(file: string, lines = 15): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const sinceStart = text.slice(Math.max(0, text.lastIndexOf('\n==== ')));
    return sinceStart.split('\n').slice(-lines - 1).join('\n').trim();
  } catch {
    return '(no log)';
  }
}

/**
 * Serialises stack:up calls (two test runs starting at once would otherwise both start Kafka and one
 * would fail on the port). The lock file holds the owner's PID; a lock whose owner is gone is taken over.
 */
export async function withLock<T>(
  lockFile: string,
  onWait: (ownerPid: number) => void,
  body: () => Promise<T>,
  timeoutMs = 45 * 60_000,
): Promise<T> {
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(fs.readFileSync(lockFile, 'utf8').trim());
      const ownerAlive = Number.isInteger(owner) && owner > 0 && procState(owner) !== undefined && procState(owner) !== 'Z';
      if (!ownerAlive) {
        fs.rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockFile} (held by pid ${owner})`);
      if (!told) onWait(owner);
      told = true;
      await sleep(500);
    }
  }
  try {
    return await body();
  } finally {
    fs.rmSync(lockFile, { force: true });
  }
}
