/**
 * The host every Kafka service runs in: configuration (validated once), the Kafka transport, topics
 * and schemas registered at start, the LLM and embeddings clients with an on-disk answer cache,
 * structured logs, the /metrics + /healthz server, and graceful SIGTERM. What runs inside is the
 * service's declaration (services/stages.ts): a stage is started with `startStage`, exactly as
 * `grip run` starts it; another service with its own `start`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { checkConfigNames, declarationOf, LLM_STEPS, portOf } from '../stages.ts';
import { loadConfig, type GripConfig } from './config.ts';
import { EmbeddingsClient } from './embeddings.ts';
import { FileLlmCache } from './file-llm-cache.ts';
import { connectSerde, ensureTopics, platformaticTransport, type KafkaTransport, type Serde } from './kafka/index.ts';
import { errorMessage, isConnectionError, kafkaFailureKind } from './kafka/errors.ts';
import { LlmClient } from './llm.ts';
import { jsonLogger, type Logger } from './log.ts';
import { DEFAULT_BACKOFF, withRetry } from './retry.ts';
import { parseRunFile, readRunFile, resolveRunSettings, type RunSettings } from './settings.ts';
import { healthReport, startOpsServer, withDependencies, type OpsServer } from './http.ts';
import { processDependencies } from './dependencies.ts';
import { leaseFor } from './leader.ts';
import { startStage, type RunningService, type ServiceContext, type StageDeclaration, type StartedStage } from './stage.ts';

export { jsonLogger, type Logger, type LogLevel } from './log.ts';

/** Settings from GRIP_CONFIG (a `grip run --config` YAML file), or the built-in defaults. */
export function serviceSettings(config: GripConfig): RunSettings {
  const file = config.services.settingsFile ? readRunFile(config.services.settingsFile) : parseRunFile({});
  return resolveRunSettings(file, {}, config, LLM_STEPS);
}
/**
 * Connects to Kafka and the registry, waiting for them (retry.ts) up to `patienceMs`: services may
 * start before the broker, or while it restarts. Then a clear error naming both addresses.
 */
export async function connectKafka(config: GripConfig, log: Logger, patienceMs = 180_000): Promise<{ transport: KafkaTransport; serde: Serde }> {
  const transport = platformaticTransport(config.kafka);
  try {
    return await withRetry(
      {
        site: 'kafka_connect',
        dependency: 'kafka',
        classify: (error) => kafkaFailureKind(error) ?? (isConnectionError(error) || /registry|fetch failed|ECONN/i.test(errorMessage(error)) ? 'transient' : undefined),
        patienceMs,
        backoff: { ...DEFAULT_BACKOFF, maxMs: 5000 },
        onRetry: (error, _kind, attempt) => log('warn', 'Kafka or schema registry not ready; retrying', { attempt, error: errorMessage(error) }),
      },
      async () => {
        const admin = transport.admin();
        try {
          const created = await ensureTopics(admin);
          if (created.length > 0) log('info', 'created topics', { topics: created });
        } finally {
          await admin.close().catch(() => undefined);
        }
        const serde = await connectSerde({ url: config.registry.url });
        return { transport, serde };
      },
    );
  } catch (error) {
    throw new Error(`cannot reach Kafka at ${config.kafka.bootstrapServers.join(',')} / the schema registry at ${config.registry.url}: ${errorMessage(error)}`, { cause: error });
  }
}

/** A transport that refuses use, for a service that needs no broker (the dashboard). */
const NO_KAFKA = new Proxy({}, { get: (_t, prop) => { throw new Error(`this service runs without Kafka (used: ${String(prop)})`); } }) as KafkaTransport & Serde;

export async function createServiceContext(name: string, env: Record<string, string | undefined> = process.env): Promise<ServiceContext & { close(): void }> {
  const config = loadConfig(env);
  checkConfigNames(config);
  const declaration = declarationOf(name);
  const settings = serviceSettings(config);
  const log = jsonLogger(name);
  const stateDir = path.join(config.services.stateDir, name);
  fs.mkdirSync(stateDir, { recursive: true });
  const needsKafka = declaration.kind === 'stage' || declaration.needsKafka;
  const { transport, serde } = needsKafka ? await connectKafka(config, log) : { transport: NO_KAFKA, serde: NO_KAFKA };
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
    checkpoints: { dir: stateDir },
    port: portOf(config, name),
    log,
    now: Date.now,
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
export async function runService(name: string, opts: { env?: Record<string, string | undefined>; handleSignals?: boolean } = {}): Promise<ServiceHandle> {
  const ctx = await createServiceContext(name, opts.env);
  const declaration = declarationOf(name);
  const running: RunningService =
    declaration.kind === 'service' ? await declaration.start(ctx) : declaration.scaling === 'one' ? await activeWhenLeader(declaration, ctx) : await startStage(declaration, ctx);
  const host = ctx.config.services.host;
  let ops: OpsServer | { url: string; close(): Promise<void> };
  try {
    ops = declaration.kind === 'service' && declaration.ownsPort
      ? { url: `http://${host}:${ctx.port}`, close: async () => {} }
      : await startOpsServer({
          port: ctx.port,
          host,
          health: async () => {
            const own = running.health ? await running.health() : healthReport(running.healthy(), null);
            return withDependencies(typeof own === 'boolean' ? healthReport(own, null) : own, processDependencies);
          },
          routes: running.routes,
        });
  } catch (error) {
    await running.stop();
    ctx.close();
    throw new Error(`${name}: cannot listen on ${host}:${ctx.port}: ${errorMessage(error)}`, { cause: error });
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

/**
 * A stage declared `scaling: 'one'`: a standby (alive, /healthz `standby`) until this instance holds
 * the lease of the active instance (leader.ts), then the stage. Losing the lease (another instance
 * took over, or the broker restarted) stops the stage at once and makes this instance a standby
 * again, in the same process: it waits for the lease anew.
 */
async function activeWhenLeader(declaration: StageDeclaration, ctx: ServiceContext): Promise<RunningService> {
  let lease = await leaseFor(ctx.transport, declaration.name, ctx.log);
  let stage: StartedStage | undefined;
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      try {
        await lease.acquired;
      } catch {
        return; // stopped while a standby
      }
      if (stopped) return;
      stage = await startStage(declaration, ctx);
      if (stopped) return stage.stop();
      const lost = await Promise.race([stage.done.then(() => false), lease.lost.then(() => true)]);
      if (!lost || stopped) return;
      ctx.log('warn', 'lease lost: stage stopped; waiting as a standby', { stage: declaration.name });
      const running = stage;
      stage = undefined;
      await running.stop();
      await lease.release();
      if (stopped) return;
      lease = await withRetry({ site: 'kafka_lease', dependency: 'kafka', classify: () => 'transient', patienceMs: Number.POSITIVE_INFINITY, backoff: { initialMs: 500, maxMs: 5000, factor: 2 } }, () =>
        leaseFor(ctx.transport, declaration.name, ctx.log),
      );
    }
  })();
  return {
    healthy: () => (stage ? stage.healthy() : !stopped),
    health: () => (stage ? (stage.health?.() ?? healthReport(stage.healthy(), null)) : { status: 'standby', reason: `another instance holds ${declaration.name}'s lease` }),
    done: done.finally(() => lease.release()),
    stop: async () => {
      stopped = true;
      await stage?.stop();
      await lease.release();
    },
  };
}
