/**
 * The one runtime every Kafka service is built from: configuration (validated once), the Kafka
 * transport, topics and schemas registered at start, the LLM and embeddings clients with an
 * on-disk answer cache, structured logs, the /metrics + /healthz server, and graceful SIGTERM.
 * A service is a `ServiceStarter`: it receives this context and returns what to stop.
 */
import fs from 'node:fs';
import path from 'node:path';
import type http from 'node:http';
import { loadConfig, type GripConfig, type ServiceName } from './config.ts';
import { EmbeddingsClient } from './embeddings.ts';
import { FileLlmCache } from './file-llm-cache.ts';
import { startOpsServer, type HealthReport, type OpsServer } from './http.ts';
import { connectSerde, ensureTopics, platformaticTransport, type KafkaTransport, type Serde } from './kafka/index.ts';
import { errorMessage } from './kafka/errors.ts';
import { LlmClient } from './llm.ts';
import { jsonLogger, type Logger } from './log.ts';
import { STAGE_GROUPS, type PipelineStage } from './groups.ts';
import { DEFAULT_BACKOFF, backoffDelay, sleep } from './retry.ts';
import { parseRunFile, readRunFile, resolveRunSettings, type RunSettings } from './settings.ts';

export { jsonLogger, type Logger, type LogLevel } from './log.ts';

export interface ServiceContext {
  name: ServiceName;
  config: GripConfig;
  settings: RunSettings;
  transport: KafkaTransport;
  serde: Serde;
  /** This service's folder under GRIP_STATE_DIR (its LLM answer cache lives here). */
  stateDir: string;
  log: Logger;
  /** The LLM client (created on first use) with the service's answer cache. */
  llm(): LlmClient;
  embeddings(): EmbeddingsClient;
}

export interface RunningService {
  /** Graceful: stop taking work, finish and commit what was taken, disconnect. */
  stop(): Promise<void>;
  /** Resolves after a graceful stop; rejects when the service crashed. */
  done: Promise<void>;
  healthy(): boolean;
  /** A health answer with a reason (e.g. degraded), when the service has more to say than healthy(). */
  health?(): HealthReport;
  /** Extra HTTP routes on the service's port. */
  routes?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export type ServiceStarter = (ctx: ServiceContext) => Promise<RunningService>;

/**
 * How long a stage waits out a dependency that is down (a model server restarting, a broker
 * failing over) before it gives up and crashes: retries of one message with backoff up to 30 s,
 * about 13 minutes in all. Work is never skipped meanwhile: the partition just does not advance.
 */
export const PATIENT_RETRIES = { maxRetries: 30, backoff: { initialMs: 500, maxMs: 30_000, factor: 2 } } as const;

/** What every model stage's consumer shares: its topics and group, the service's clients, patience, logs. */
export function stageBase(ctx: ServiceContext, stage: PipelineStage) {
  const { groupId, topic, output } = STAGE_GROUPS[stage];
  return {
    name: stage,
    inputTopic: topic,
    outputTopic: output,
    groupId,
    transport: ctx.transport,
    serde: ctx.serde,
    log: ctx.log,
    ...PATIENT_RETRIES,
    handleSignals: false, // the service runtime owns SIGTERM: it stops the stage, then the rest
  };
}

/** Settings from GRIP_CONFIG (a `grip run --config` YAML file), or the built-in defaults. */
export function serviceSettings(config: GripConfig): RunSettings {
  const file = config.services.settingsFile ? readRunFile(config.services.settingsFile) : parseRunFile({});
  return resolveRunSettings(file, {}, config);
}

/** Connects to Kafka and the registry (waiting for them a while: services may start before the broker). */
export async function connectKafka(config: GripConfig, log: Logger, attempts = 10): Promise<{ transport: KafkaTransport; serde: Serde }> {
  const transport = platformaticTransport(config.kafka);
  for (let attempt = 0; ; attempt++) {
    try {
      const admin = transport.admin();
      try {
        const created = await ensureTopics(admin);
        if (created.length > 0) log('info', 'created topics', { topics: created });
      } finally {
        await admin.close().catch(() => undefined);
      }
      const serde = await connectSerde({ url: config.registry.url });
      return { transport, serde };
    } catch (error) {
      if (attempt + 1 >= attempts) {
        throw new Error(`cannot reach Kafka at ${config.kafka.bootstrapServers.join(',')} / the schema registry at ${config.registry.url}: ${errorMessage(error)}`, { cause: error });
      }
      log('warn', 'Kafka or schema registry not ready; retrying', { attempt, error: errorMessage(error) });
      await sleep(backoffDelay(attempt, { ...DEFAULT_BACKOFF, maxMs: 5000 }));
    }
  }
}

export async function createServiceContext(name: ServiceName, env: Record<string, string | undefined> = process.env): Promise<ServiceContext & { close(): void }> {
  const config = loadConfig(env);
  const settings = serviceSettings(config);
  const log = jsonLogger(name);
  const stateDir = path.join(config.services.stateDir, name);
  fs.mkdirSync(stateDir, { recursive: true });
  const { transport, serde } = await connectKafka(config, log);
  let llm: LlmClient | undefined;
  let cache: FileLlmCache | undefined;
  let embeddings: EmbeddingsClient | undefined;
  return {
    name,
    config,
    settings,
    transport,
    serde,
    stateDir,
    log,
    llm: () => {
      if (!llm) {
        cache = new FileLlmCache(path.join(stateDir, 'llm-cache.jsonl'));
        llm = new LlmClient({ endpoints: settings.endpoints, cache, concurrency: settings.concurrency });
      }
      return llm;
    },
    embeddings: () => (embeddings ??= new EmbeddingsClient({ endpoint: settings.embeddingsEndpoint })),
    close: () => cache?.close(),
  };
}

export interface ServiceHandle {
  url: string;
  stop(): Promise<void>;
  /** Resolves after a graceful stop; rejects if the service crashed. */
  done: Promise<void>;
}

/**
 * Starts a service with its ops server on its configured port. Stops on SIGTERM / SIGINT (when
 * `handleSignals`), or when the service crashes.
 */
export async function runService(name: ServiceName, starter: ServiceStarter, opts: { env?: Record<string, string | undefined>; handleSignals?: boolean } = {}): Promise<ServiceHandle> {
  const ctx = await createServiceContext(name, opts.env);
  const running = await starter(ctx);
  let ops: OpsServer;
  try {
    ops = await startOpsServer({ port: ctx.config.services.ports[name], host: ctx.config.services.host, health: () => running.health?.() ?? running.healthy(), routes: running.routes });
  } catch (error) {
    await running.stop();
    ctx.close();
    throw new Error(`${name}: cannot listen on ${ctx.config.services.host}:${ctx.config.services.ports[name]}: ${errorMessage(error)}`, { cause: error });
  }
  ctx.log('info', 'service started', { url: ops.url });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      ctx.log('info', 'stopping');
      await running.stop().catch((error) => ctx.log('error', 'error while stopping', { error: errorMessage(error) }));
      await ops.close().catch(() => undefined);
      ctx.close();
      if (onSignal) {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
      ctx.log('info', 'stopped');
    })());
  const onSignal = opts.handleSignals === false ? undefined : () => void stop();
  if (onSignal) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  const done = running.done.then(
    async () => stop(),
    async (error) => {
      ctx.log('error', 'service crashed', { error: errorMessage(error) });
      await stop();
      throw error;
    },
  );
  done.catch(() => undefined);
  return { url: ops.url, stop: async () => { await stop(); await done.catch(() => undefined); }, done };
}

/** Combines several stages' handles into one service (the sink runs one stage per topic). */
export function combine(parts: Array<Pick<RunningService, 'stop' | 'done' | 'healthy'>>, extra: { stop?: () => Promise<void> } = {}): RunningService {
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.allSettled(parts.map((p) => p.stop()));
      await extra.stop?.();
    })());
  // The first part to crash brings the others down: a service is healthy only whole.
  const done = Promise.all(parts.map((p) => p.done)).then(() => undefined);
  done.catch(() => void stop());
  return { stop, done: done.finally(() => stop()), healthy: () => parts.every((p) => p.healthy()) };
}
