/**
 * Helpers of the end-to-end pipeline test: the `grip` CLI as a user runs it, ClickHouse queries,
 * consumer lag of every stage, and the reset of the pipeline's topics, groups and database.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { consumerGroupsOf, SERVICE_NAMES as PIPELINE_SERVICES, SERVICES } from '../../services/stages.ts';
import { REPO_ROOT, servicePortVar, type GripConfig } from '../../services/runtime/config.ts';
import { computeLag, platformaticTransport } from '../../services/runtime/kafka/index.ts';
import { loadTopics } from '../../schemas/catalog.ts';

export const GRIP = path.join(REPO_ROOT, 'bin', 'grip.mjs');

/** The environment of a test's services: its own state folder and every service port from `portBase` on. */
export function servicesEnv(stateDir: string, portBase: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const ports = Object.fromEntries(SERVICES.map((s, i) => [servicePortVar(s.name), String(portBase + 1 + i)]));
  return { ...process.env, GRIP_STATE_DIR: stateDir, ...ports, ...extra };
}

export function grip(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 600_000) {
  const result = spawnSync(process.execPath, [GRIP, ...args], { encoding: 'utf8', env, timeout: timeoutMs });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

export function clickhouse(config: GripConfig): ClickHouseClient {
  return createClient({ url: config.clickhouse.url, username: config.clickhouse.username, password: config.clickhouse.password });
}

export async function rows<T = Record<string, unknown>>(ch: ClickHouseClient, query: string): Promise<T[]> {
  const rs = await ch.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

export async function scalar(ch: ClickHouseClient, query: string): Promise<number> {
  const [row] = await rows<Record<string, string | number>>(ch, query);
  return Number(Object.values(row ?? { v: NaN })[0]);
}

/** Total lag (end offset - committed) of every stage's consumer groups: 0 when all input was processed. */
export async function pipelineLag(config: GripConfig): Promise<Record<string, number>> {
  const admin = platformaticTransport(config.kafka).admin();
  try {
    const out: Record<string, number> = {};
    for (const stage of PIPELINE_SERVICES) {
      for (const { groupId, topic } of consumerGroupsOf(stage)) {
        const [end, committed] = await Promise.all([admin.endOffsets([topic]), admin.groupOffsets(groupId, [topic])]);
        out[groupId] = Number(computeLag(end, committed).total);
      }
    }
    return out;
  } finally {
    await admin.close();
  }
}

/**
 * Deletes the pipeline's topics (and DLQs), its consumer groups and the ClickHouse database: the
 * state a fresh deployment starts from. Only for a stack the tests own.
 */
export async function resetPipeline(config: GripConfig): Promise<void> {
  const admin = platformaticTransport(config.kafka).admin();
  try {
    const groups = PIPELINE_SERVICES.flatMap((s) => consumerGroupsOf(s).map((g) => g.groupId));
    await admin.deleteGroups(groups).catch(() => undefined);
    const ours = new Set([...loadTopics().values()].flatMap((s) => [s.topic, s.dlq]));
    const existing = (await admin.listTopics()).filter((t) => ours.has(t));
    if (existing.length > 0) await admin.deleteTopics(existing);
    // Deletion is asynchronous on the broker: wait until the names are free again.
    for (let i = 0; i < 100; i++) {
      if (!(await admin.listTopics()).some((t) => ours.has(t))) break;
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    await admin.close();
  }
  const ch = clickhouse(config);
  try {
    await ch.command({ query: `DROP DATABASE IF EXISTS ${config.clickhouse.database}` });
  } finally {
    await ch.close();
  }
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
