/**
 * What every phase of the scale benchmark works with: the connection config, the environment the
 * services run with (their settings file, state folder, the fake model), the clients, the
 * synthetic data, the interrupt signal and the log.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import type { GripConfig } from '../../services/runtime/config.ts';
import type { AdminPort, KafkaTransport, Serde } from '../../services/runtime/kafka/index.ts';
import type { RunSettings } from '../../services/runtime/settings.ts';
import { SERVICES } from '../../services/stages.ts';
import { servicePortVar } from '../../services/runtime/config.ts';
import type { ScaleOptions } from './options.ts';
import type { ScaleSizes, Synth } from './generate.ts';

export interface ScaleContext {
  options: ScaleOptions;
  sizes: ScaleSizes;
  /** The environment of every service the bench starts (GRIP_CONFIG, GRIP_STATE_DIR, GRIP_LLM_BASE_URL, ports). */
  env: NodeJS.ProcessEnv;
  config: GripConfig;
  settings: RunSettings;
  judgeConfigVersion: string;
  transport: KafkaTransport;
  admin: AdminPort;
  serde: Serde;
  clickhouse: ClickHouseClient;
  synth: Synth;
  /** The bench's own folder: settings, state folders, service logs. */
  work: string;
  logDir: string;
  signal: AbortSignal;
  /** Records produced per topic (what the sink must store). */
  produced: Record<string, number>;
}

export const log = (line: string) => process.stderr.write(`bench:scale: ${new Date().toISOString().slice(11, 19)} ${line}\n`);

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
export const seconds = (fromMs: number, toMs = performance.now()) => round((toMs - fromMs) / 1000, 2);

/** A folder of its own under the OS temp folder: the settings file, the services' state and logs. */
export function workFolder(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'grip-scale-'));
}

/**
 * The settings the services run with: defaults, except that the combination budget equals the
 * combinations in grip.pairs (so concept-graph owes nothing at start and samples nothing new).
 */
export function settingsLines(sizes: ScaleSizes): string[] {
  return ['seed: 1', 'services:', `  combinations_per_seed: ${Math.ceil(sizes.combinations / sizes.seeds)}`, `  max_combinations: ${sizes.combinations}`];
}

/** The services' environment: every service port from `portBase` on (none of the defaults, so nothing running elsewhere collides). */
export function servicesEnvironment(work: string, portBase: number, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const ports = Object.fromEntries(SERVICES.map((s, i) => [servicePortVar(s.name), String(portBase + 1 + i)]));
  return { ...process.env, GRIP_STATE_DIR: path.join(work, 'state'), ...ports, ...extra };
}

export function clickhouseClient(config: GripConfig): ClickHouseClient {
  // long reads of the full tables: progress headers keep the connection from looking idle
  return createClient({
    url: config.clickhouse.url,
    username: config.clickhouse.username,
    password: config.clickhouse.password,
    request_timeout: 600_000,
    // failures come back as errors the bench reports (polling a database the sink has not made yet is one)
    log: { level: ClickHouseLogLevel.OFF },
    clickhouse_settings: { send_progress_in_http_headers: 1, http_headers_progress_interval_ms: '10000' },
  });
}

export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw new Error('interrupted');
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
  if (signal?.aborted) throw new Error('interrupted');
}

/** Polls `probe` every `everyMs` until it returns a value, within `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number, everyMs: number, signal?: AbortSignal): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (error) {
      last = error;
    }
    if (performance.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs, signal);
  }
}

export async function scalar(ch: ClickHouseClient, query: string): Promise<number> {
  const rows = await (await ch.query({ query, format: 'JSONEachRow' })).json<Record<string, unknown>>();
  return Number(Object.values(rows[0] ?? { v: NaN })[0]);
}
