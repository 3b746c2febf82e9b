/**
 * What a stage of the pipeline IS, declared once (services/<stage>/stage.ts), and the one way it is
 * started. A declaration names the stage, the topic it reads and the topic it writes, the LLM steps
 * it calls, its port, how it scales, how its consumer is shaped, and `setup(ctx)`: everything a
 * stage prepares before its first message (registry, dedup, benchmark filter, state rebuilt from
 * the logs) and the handler that results. The Kafka services (runtime/service.ts) and `grip run`
 * (cli/run, on the in-process transport) both start a stage with `startStage`, so they cannot drift.
 *
 * Services that are not consumers of one topic (seed-ingest's HTTP intake, the ClickHouse sink, the
 * dashboard) declare themselves with `kind: 'service'` and a `start` of their own.
 */
import type http from 'node:http';
import type { TopicName } from '../../schemas/generated/types.ts';
import type { GripConfig } from './config.ts';
import type { HealthReport } from './http.ts';
import type { EmbeddingsClient } from './embeddings.ts';
import type { HandlerResult } from './handler.ts';
import { readLog, runStage, type InRecord, type KafkaTransport, type LogReader, type OrderedStep, type Serde, type StageContext, type StageStats } from './kafka/index.ts';
import type { LlmClient } from './llm.ts';
import type { Logger } from './log.ts';
import type { RunSettings } from './settings.ts';

/** What a stage's setup may use; the Kafka services and `grip run` each provide it. */
export interface StageSetupContext {
  settings: RunSettings;
  transport: KafkaTransport;
  serde: Serde;
  log: Logger;
  /** The clock of output records (`grip run` fixes it to the run's first start: reproducible files). */
  now: () => number;
  /** The process's LLM client, with its answer cache (created on first use). */
  llm(): LlmClient;
  embeddings(): EmbeddingsClient;
  /**
   * Where and how often a one-instance stage checkpoints its state (services: the service's state
   * directory, shared by the active instance and a standby on the same host; the cadence defaults
   * of runtime/checkpoint.ts). Absent: no checkpoints (`grip run`, which reads its small logs whole).
   */
  checkpoints?: { dir: string; everyRecords?: number; everyMs?: number };
}

/**
 * Reads a log whole through the context's transport: the state a stage rebuilds at start (resolves
 * `caughtUp` at the end offsets seen when it began; with `follow`, it keeps reading after).
 */
export function readState<T>(
  ctx: Pick<StageSetupContext, 'transport' | 'serde'>,
  topic: TopicName,
  name: string,
  onValue: (value: T, record: InRecord) => void,
  follow = false,
  /** Per partition, the next offset to read (a checkpoint's positions); default: from the first record. */
  from?: ReadonlyMap<number, bigint>,
): Promise<LogReader> {
  return readLog<T>({ transport: ctx.transport, serde: ctx.serde, topic, name, follow, onValue, from });
}

/** A stage after setup: its handler, optionally split into a concurrent and an in-order half. */
export interface StageLogic<In, Prepared, Out> {
  handle(value: In, ctx: StageContext): Promise<HandlerResult<Prepared>>;
  /** Runs in offset order within a partition, after `handle` returned ok (see runStage). */
  ordered?: OrderedStep<In, Prepared, Out>;
  /** Work the stage depends on while it runs (a log it follows): its failure crashes the stage. */
  following?: Promise<void>;
  /** Releases what setup acquired, after the consumer stopped. */
  stop?(): Promise<void>;
}

/** How a stage's consumer takes work from its topic. */
export interface ConsumerShape {
  /** Messages handled at once. */
  concurrency: number;
  maxBatchRecords?: number;
  maxInFlightBatches?: number;
  /** Retries of one message after retriable errors before the stage crashes (default: none but patience). */
  maxRetries?: number;
  /** How long a message may wait out a dependency before the stage crashes, ms (PATIENT_RETRIES: for ever). */
  patienceMs?: number;
  /** 'pause' (services) or 'fail' (grip run) on a dependency refusing the configuration (runStage). */
  onConfigurationError?: 'pause' | 'fail';
  /** Admits the next record only when this says so (model stages: while their endpoints take more; llm-flow.ts). */
  ready?: () => boolean;
}

interface DeclarationBase {
  name: string;
  /** Default HTTP port (/metrics, /healthz); GRIP_<NAME>_PORT overrides it. */
  port: number;
  /** 'one': exactly one active instance (the state is global); 'any': a consumer group of any size. */
  scaling: 'any' | 'one';
  /** LLM steps it calls; each may have its own endpoint (GRIP_LLM_<STEP>_*, `llm.stages` in the settings). */
  llmSteps: readonly string[];
  /** Logs it reads whole to rebuild its state at start (beside its input), and other topics it writes. */
  stateLogs?: readonly TopicName[];
  sideOutputs?: readonly TopicName[];
  description: string;
}

export interface StageDeclaration<In = any, Prepared = any, Out = any> extends DeclarationBase {
  kind: 'stage';
  input: TopicName;
  /** Where ok values go; none: the stage only has side effects. */
  output?: TopicName;
  /** How its consumer takes work (model stages: by what their endpoints take, llm-flow.ts). */
  consumer(ctx: StageSetupContext): ConsumerShape;
  setup(ctx: StageSetupContext): Promise<StageLogic<In, Prepared, Out>>;
}

/** A service's process-level context: a stage's, plus the connection config and its state folder. */
export interface ServiceContext extends StageSetupContext {
  name: string;
  config: GripConfig;
  /** This service's folder under GRIP_STATE_DIR (its LLM answer cache lives here). */
  stateDir: string;
  /** Its HTTP port (GRIP_<NAME>_PORT or the declared one). */
  port: number;
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

export interface ServiceDeclaration extends DeclarationBase {
  kind: 'service';
  /** Topics it writes and reads ('every-topic': each topic the catalog stores in a table, and each DLQ). */
  produces: readonly TopicName[];
  consumes: readonly TopicName[] | 'every-topic';
  /** False for a service that talks to no broker (the dashboard reads ClickHouse only). */
  needsKafka: boolean;
  /** It serves its own HTTP server on its port (with its own /healthz and /metrics). */
  ownsPort?: boolean;
  start(ctx: ServiceContext): Promise<RunningService>;
}

export type Declaration = StageDeclaration | ServiceDeclaration;

/** Typed identity: lets a declaration's setup infer In, Prepared and Out. */
export function declareStage<In, Prepared, Out>(declaration: Omit<StageDeclaration<In, Prepared, Out>, 'kind'>): StageDeclaration<In, Prepared, Out> {
  return { kind: 'stage', ...declaration };
}

export function declareService(declaration: Omit<ServiceDeclaration, 'kind'>): ServiceDeclaration {
  return { kind: 'service', ...declaration };
}

/** A stage's consumer group. */
export const groupOf = (stage: Pick<StageDeclaration, 'name'>): string => `grip.${stage.name}`;

/** The ClickHouse sink reads each topic (and each DLQ) in a group of its own. */
export const sinkGroupOf = (topic: string): string => `grip.clickhouse-sink.${topic}`;

/**
 * How a service waits out a dependency that is down (a model server restarting, a broker failing
 * over): for as long as it takes, retrying the message with backoff up to 30 s, its /healthz saying
 * `waiting` on what since when. A crash and restart would fix nothing and lose the process's state.
 * Work is never skipped meanwhile: the partition just does not advance.
 */
export const PATIENT_RETRIES = { patienceMs: Number.POSITIVE_INFINITY, onConfigurationError: 'pause', backoff: { initialMs: 500, maxMs: 30_000, factor: 2 } } as const;

export interface StartedStage extends RunningService {
  stats(): StageStats;
}

/** Sets a stage up and runs its consumer; the one starter of the services and of `grip run`. */
export async function startStage(declaration: StageDeclaration, ctx: StageSetupContext, shape: Partial<ConsumerShape> = {}): Promise<StartedStage> {
  const logic = await declaration.setup(ctx);
  let stage;
  try {
    stage = await runStage({
      name: declaration.name,
      inputTopic: declaration.input,
      outputTopic: declaration.output,
      groupId: groupOf(declaration),
      transport: ctx.transport,
      serde: ctx.serde,
      log: ctx.log,
      ...PATIENT_RETRIES,
      handleSignals: false, // the process owns SIGTERM: it stops the stage, then the rest
      ...declaration.consumer(ctx),
      ...shape,
      handler: (value, c) => logic.handle(value, c),
      ordered: logic.ordered,
    });
  } catch (error) {
    await logic.stop?.();
    throw error;
  }
  const started = stage;
  // A log the stage follows that stops being followed (not by stop()) makes its state stale: crash.
  const done = logic.following ? Promise.race([started.done, logic.following.then(() => started.done)]) : started.done;
  return {
    healthy: () => started.healthy(),
    done,
    stats: () => started.stats(),
    stop: async () => {
      await started.stop();
      await logic.stop?.();
    },
  };
}

/** Combines several parts into one service (the sink runs one consumer per topic). */
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
