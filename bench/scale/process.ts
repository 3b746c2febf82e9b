/**
 * A service the bench starts as `grip services run <name>` (the command `grip services up` and the
 * containers run, as the fault tests start a second instance): its structured log lines are kept
 * with the moment each arrived, its memory is read from /proc (VmRSS now, VmHWM: the peak the
 * kernel recorded) and sampled while it runs. Every process started here is tracked, so that an
 * interrupted run can stop them all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT, servicePortVar } from '../../services/runtime/config.ts';

const GRIP = path.join(REPO_ROOT, 'bin', 'grip.mjs');

export interface LogLine {
  /** performance.now() when the line arrived. */
  at: number;
  level?: string;
  message: string;
  fields: Record<string, unknown>;
}

export interface Memory {
  rss_mb: number | null;
  peak_rss_mb: number | null;
}

const running = new Set<ServiceProcess>();

/** Every service process this bench started that has not exited. */
export function runningProcesses(): ServiceProcess[] {
  return [...running];
}

export class ServiceProcess {
  readonly child: ChildProcess;
  readonly startedAt = performance.now();
  readonly lines: LogLine[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters = new Set<() => void>();
  private readonly logStream: fs.WriteStream;
  private sampler: NodeJS.Timeout;
  /** Highest VmRSS seen by sampling (VmHWM is the kernel's own figure; both are reported). */
  private sampledPeakKb = 0;
  private lastStatus: { rssKb: number; hwmKb: number } | null = null;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(
    readonly service: string,
    readonly label: string,
    env: NodeJS.ProcessEnv,
    readonly port: number,
    logDir: string,
  ) {
    fs.mkdirSync(logDir, { recursive: true });
    this.logStream = fs.createWriteStream(path.join(logDir, `${label}.log`), { flags: 'a' });
    this.child = spawn(process.execPath, [GRIP, 'services', 'run', service], { env: { ...env, [servicePortVar(service)]: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(this);
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => this.onLine(line));
    }
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        running.delete(this);
        clearInterval(this.sampler);
        this.exitInfo = { code, signal };
        this.logStream.end();
        for (const wake of this.waiters) wake();
        resolve({ code, signal });
      }),
    );
    this.sampler = setInterval(() => this.sample(), 250);
    this.sampler.unref();
  }

  get pid(): number {
    return this.child.pid!;
  }

  private onLine(raw: string): void {
    this.logStream.write(raw + '\n');
    let line: LogLine;
    try {
      const parsed = JSON.parse(raw) as Record<string, unknown>;
      const { message, level, time: _time, service: _service, ...fields } = parsed;
      line = { at: performance.now(), level: String(level ?? ''), message: String(message ?? ''), fields };
    } catch {
      line = { at: performance.now(), message: raw, fields: {} };
    }
    this.lines.push(line);
    for (const wake of this.waiters) wake();
  }

  private sample(): void {
    const status = readStatus(this.pid);
    if (!status) return;
    this.lastStatus = status;
    this.sampledPeakKb = Math.max(this.sampledPeakKb, status.rssKb);
  }

  /** RSS now and the peak (the kernel's VmHWM, or the highest sample when /proc says nothing). */
  memory(): Memory {
    const status = this.exitInfo ? null : readStatus(this.pid);
    if (status) this.lastStatus = status;
    const s = status ?? this.lastStatus;
    const peakKb = Math.max(s?.hwmKb ?? 0, this.sampledPeakKb);
    return { rss_mb: status ? mb(status.rssKb) : null, peak_rss_mb: peakKb > 0 ? mb(peakKb) : null };
  }

  /** The first line (from index `from`) whose message matches, waiting up to `timeoutMs`; throws if the process exits first. */
  async waitFor(match: string | RegExp, timeoutMs: number, opts: { from?: number; signal?: AbortSignal; where?: (line: LogLine) => boolean } = {}): Promise<LogLine & { index: number }> {
    const test = (l: LogLine) => (typeof match === 'string' ? l.message === match : match.test(l.message)) && (opts.where?.(l) ?? true);
    const deadline = performance.now() + timeoutMs;
    let from = opts.from ?? 0;
    for (;;) {
      for (; from < this.lines.length; from++) if (test(this.lines[from]!)) return { ...this.lines[from]!, index: from };
      if (opts.signal?.aborted) throw new Error('interrupted');
      if (this.exitInfo) throw new Error(`${this.label} exited (${this.exitInfo.signal ?? `code ${this.exitInfo.code}`}) before logging ${JSON.stringify(String(match))}; last lines:\n${this.tail()}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${this.label}: no ${JSON.stringify(String(match))} within ${Math.round(timeoutMs / 1000)} s; last lines:\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 1000));
        this.waiters.add(wake);
      });
    }
  }

  /** Lines logged at level error (e.g. a crash), for the results. */
  errors(): string[] {
    return this.lines.filter((l) => l.level === 'error').map((l) => `${l.message} ${JSON.stringify(l.fields)}`.slice(0, 500));
  }

  tail(n = 8): string {
    return this.lines
      .slice(-n)
      .map((l) => `  ${l.message} ${JSON.stringify(l.fields)}`.slice(0, 400))
      .join('\n');
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.exitInfo) this.child.kill(signal);
  }

  /** SIGTERM (a graceful stop), then SIGKILL after `graceMs`. */
  async stop(graceMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
    if (this.exitInfo) return { ...this.exitInfo, killed: false };
    this.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.kill('SIGKILL');
    }, graceMs);
    const info = await this.exited;
    clearTimeout(timer);
    return { ...info, killed };
  }
}

function readStatus(pid: number): { rssKb: number; hwmKb: number } | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(text);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(text);
    return rss ? { rssKb: Number(rss[1]), hwmKb: hwm ? Number(hwm[1]) : 0 } : null;
  } catch {
    return null;
  }
}

const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;

/** GET a service's /healthz: its status field ('ok', 'standby', ...) or null when it does not answer. */
export async function healthOf(port: number): Promise<string | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { status?: string };
    return body.status ?? null;
  } catch {
    return null;
  }
}
