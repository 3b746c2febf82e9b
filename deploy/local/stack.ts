/**
 * The local stack's programmatic API, used by the CLI (deploy/local/cli.ts) and by the integration
 * tests' global setup (test/setup/stack.global.ts).
 *
 * - stackUp: installs what is missing (in parallel, the llama.cpp compile first), starts what is not
 *   running, waits until every component is healthy. A component already running is left alone. On any
 *   failure it stops what this call started and throws a StackError naming component, command and log.
 * - stackStatus: probes every component's client URL (local or external) and reads the PID records.
 * - stackDown: stops recorded processes only; `purge` also deletes their data and logs.
 *
 * A component whose configured address is not this machine (e.g. KAFKA_BOOTSTRAP_SERVERS pointing at
 * a real cluster) is neither installed nor started: it is only probed.
 */
import fs from 'node:fs';
import type { GripConfig } from '../../services/runtime/config.ts';
import { clickhouse } from './clickhouse.ts';
import type { Component } from './component.ts';
import { embeddings } from './embeddings.ts';
import { type InstallContext, StackError } from './install.ts';
import { kafka } from './kafka.ts';
import { llm } from './llm.ts';
import { type ComponentName, COMPONENTS, stackPaths, type StackPaths } from './paths.ts';
import { boundPorts, clientHostPort, isLocalAddress } from './ports.ts';
import {
  isPortFree,
  isRecordAlive,
  type ProcessRecord,
  readRecord,
  spawnDetached,
  stopRecorded,
  tailOf,
  withLock,
} from './supervisor.ts';
import path from 'node:path';
import { registry } from './registry.ts';

export { StackError } from './install.ts';
export { COMPONENTS, type ComponentName } from './paths.ts';

/** The llama.cpp compile is the long pole: listed first so its install starts first. */
const ALL: Record<ComponentName, Component> = { llm, kafka, registry, clickhouse, embeddings };

export type ComponentState = 'running' | 'stopped' | 'unhealthy' | 'external';

export interface ComponentStatus {
  url: string;
  healthy: boolean;
  state: ComponentState;
  pid?: number;
  log?: string;
}

export type StackStatus = Record<ComponentName, ComponentStatus>;

export interface UpOptions {
  /** Only these components (default: all five). */
  only?: readonly ComponentName[];
  /** Progress lines (default: stderr). */
  progress?: (message: string) => void;
}

export interface UpResult {
  /** Components this call started (a caller that wants to undo exactly its own work stops these). */
  started: ComponentName[];
  /** Components this call installed. */
  installed: ComponentName[];
  status: StackStatus;
}

export interface DownOptions {
  purge?: boolean;
  only?: readonly ComponentName[];
}

const defaultProgress = (message: string) => process.stderr.write(`[stack] ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isLocal(config: GripConfig, name: ComponentName): boolean {
  return isLocalAddress(clientHostPort(config, name).host);
}

function liveRecord(paths: StackPaths, name: ComponentName): ProcessRecord | undefined {
  const record = readRecord(paths.pidFile(name));
  return record && isRecordAlive(record) ? record : undefined;
}

export async function stackStatus(config: GripConfig): Promise<StackStatus> {
  const paths = stackPaths(config);
  const entries = await Promise.all(
    COMPONENTS.map(async (name): Promise<[ComponentName, ComponentStatus]> => {
      const component = ALL[name];
      const healthy = await component.health(config);
      const url = component.clientUrl(config);
      if (!isLocal(config, name)) return [name, { url, healthy, state: 'external' }];
      const record = liveRecord(paths, name);
      const state: ComponentState = record ? (healthy ? 'running' : 'unhealthy') : healthy ? 'running' : 'stopped';
      const log = paths.logFile(name);
      return [name, { url, healthy, state, ...(record ? { pid: record.pid } : {}), ...(fs.existsSync(log) ? { log } : {}) }];
    }),
  );
  return Object.fromEntries(entries) as StackStatus;
}

async function waitHealthy(config: GripConfig, component: Component, record: ProcessRecord | undefined): Promise<void> {
  const deadline = Date.now() + component.startTimeoutMs;
  let delay = 200;
  while (Date.now() < deadline) {
    if (await component.health(config)) return;
    if (record && !isRecordAlive(record)) {
      throw new StackError(
        component.name,
        `exited during start:\n${tailOf(record.log)}`,
        [record.command, ...record.args].join(' '),
        record.log,
      );
    }
    await sleep(delay);
    delay = Math.min(delay * 1.5, 2_000);
  }
  throw new StackError(
    component.name,
    `not healthy after ${Math.round(component.startTimeoutMs / 1000)} s:\n${record ? tailOf(record.log) : ''}`,
    record ? [record.command, ...record.args].join(' ') : undefined,
    record?.log,
  );
}

/** Fails promptly, naming port and component, when a port the component needs is taken by someone else. */
async function assertPortsFree(config: GripConfig, name: ComponentName): Promise<void> {
  for (const { port, purpose } of boundPorts(config, name)) {
    if (!(await isPortFree(port))) {
      throw new StackError(
        name,
        `port ${port} (${name} ${purpose}) on 127.0.0.1 is already in use by a process the stack did not start; ` +
          `stop that process or change the ${name} address in the configuration`,
      );
    }
  }
}

function installContext(paths: StackPaths, name: ComponentName, progress: (m: string) => void): InstallContext {
  fs.mkdirSync(paths.logsDir, { recursive: true });
  return { component: name, log: paths.installLogFile(name), progress };
}

/** Runs all installs; reports every failure (first one thrown, the others named in its message). */
async function installMissing(
  config: GripConfig,
  paths: StackPaths,
  names: ComponentName[],
  progress: (m: string) => void,
): Promise<ComponentName[]> {
  const missing = names.filter((name) => !ALL[name].isInstalled(paths));
  if (missing.length === 0) return [];
  progress(`installing into ${paths.root}: ${missing.join(', ')}`);
  const t0 = Date.now();
  const results = await Promise.allSettled(
    missing.map(async (name) => {
      const started = Date.now();
      await ALL[name].install(config, paths, installContext(paths, name, progress));
      progress(`${name}: installed in ${Math.round((Date.now() - started) / 1000)} s`);
    }),
  );
  const failures = results
    .map((r, i) => ({ r, name: missing[i] as ComponentName }))
    .filter((x): x is { r: PromiseRejectedResult; name: ComponentName } => x.r.status === 'rejected');
  const first = failures[0];
  if (first) {
    const err = first.r.reason instanceof StackError
      ? first.r.reason
      : new StackError(first.name, String(first.r.reason), undefined, paths.installLogFile(first.name));
    if (failures.length > 1) {
      err.message += `\n(also failed to install: ${failures.slice(1).map((f) => `${f.name}: ${String(f.r.reason?.message ?? f.r.reason)}`).join('; ')})`;
    }
    throw err;
  }
  progress(`installs done in ${Math.round((Date.now() - t0) / 1000)} s`);
  return missing;
}

export async function stackUp(config: GripConfig, opts: UpOptions = {}): Promise<UpResult> {
  const progress = opts.progress ?? defaultProgress;
  const paths = stackPaths(config);
  return withLock(
    path.join(paths.runDir, 'up.lock'),
    (owner) => progress(`waiting for another stack:up (pid ${owner}) to finish`),
    () => up(config, paths, opts, progress),
  );
}

async function up(config: GripConfig, paths: StackPaths, opts: UpOptions, progress: (m: string) => void): Promise<UpResult> {
  const selected = (opts.only ?? COMPONENTS).filter((n) => COMPONENTS.includes(n));
  const local = (Object.keys(ALL) as ComponentName[]).filter((n) => selected.includes(n) && isLocal(config, n));
  for (const name of selected.filter((n) => !local.includes(n))) {
    progress(`${name}: external (${ALL[name].clientUrl(config)}), not started here`);
  }

  const running = local.filter((n) => liveRecord(paths, n) !== undefined);
  const toStart = local.filter((n) => !running.includes(n));
  const installed = await installMissing(config, paths, toStart, progress);

  // Ports first, for every component, so that a conflict fails before anything is started.
  for (const name of toStart) await assertPortsFree(config, name);

  const started: ComponentName[] = [];
  try {
    await Promise.all(
      toStart.map(async (name) => {
        const component = ALL[name];
        const spec = await component.prepare(config, paths, installContext(paths, name, progress));
        const record = spawnDetached(spec, paths.pidFile(name), paths.logFile(name));
        started.push(name);
        progress(`${name}: started (pid ${record.pid}), waiting until healthy`);
        await waitHealthy(config, component, record);
        await component.afterStart?.(config);
        progress(`${name}: healthy at ${component.clientUrl(config)}`);
      }),
    );
    await Promise.all(
      selected
        .filter((n) => !toStart.includes(n))
        .map(async (name) => {
          await waitHealthy(config, ALL[name], liveRecord(paths, name));
          if (running.includes(name)) await ALL[name].afterStart?.(config);
        }),
    );
  } catch (err) {
    if (started.length > 0) {
      progress(`start failed; stopping what this call started: ${started.join(', ')}`);
      await stackDown(config, { only: started });
    }
    throw err;
  }
  return { started, installed, status: await stackStatus(config) };
}

export async function stackDown(config: GripConfig, opts: DownOptions = {}): Promise<{ stopped: ComponentName[] }> {
  const paths = stackPaths(config);
  const selected = opts.only ?? COMPONENTS;
  const stopped: ComponentName[] = [];
  await Promise.all(
    selected.map(async (name) => {
      const outcome = await stopRecorded(paths.pidFile(name));
      if (outcome !== 'not-running') stopped.push(name);
      if (opts.purge) {
        fs.rmSync(paths.data(name), { recursive: true, force: true });
        fs.rmSync(paths.logFile(name), { force: true });
      }
    }),
  );
  return { stopped };
}

/** Human-readable one-line description of a StackError (component, command, log). */
export function describeStackError(err: unknown): string {
  if (!(err instanceof StackError)) return err instanceof Error ? err.stack ?? err.message : String(err);
  const lines = [`${err.component}: ${err.message}`];
  if (err.command) lines.push(`  command: ${err.command}`);
  if (err.log) lines.push(`  log: ${err.log}`);
  return lines.join('\n');
}
