/**
 * runStage: the one consumer wrapper every Kafka service is built from. It reads batches per
 * partition, runs the stage's pure handler on each message (admitted one record at a time: a slot
 * of `concurrency` and, if given, `ready()`; a slow message holds its own slot, not its batch's
 * neighbours' ones), routes the result
 * (ok -> output topic keyed by the declared key field, dlq -> the stage's DLQ with the original bytes
 * and key, drop -> a counter), and commits a partition's offset only after the batch's records were
 * acknowledged by the broker AND every earlier batch of that partition finished. Failures follow
 * errors.ts: retriable -> retry the message with backoff for `patienceMs` (a service: for ever;
 * the dependency board says what it waits on), then crash; configuration -> stop taking messages
 * and retry until it works ('pause', services) or crash ('fail', grip run); non-retriable -> DLQ;
 * unknown -> crash. A crash never commits the failed batch, so its messages come back after a
 * restart. A broker that goes away is waited for: sends are retried, a consumer whose connection
 * failed is closed and made again once the broker answers (uncommitted work is redelivered).
 *
 * A stage may split its work in two: `handler` runs concurrently (model calls), then `ordered` runs
 * in offset order within a partition, one record after the other (a step whose result depends on
 * what the records before it did: KC registry merges, the judge's final dedup and its
 * one-verdict-per-candidate check). The same order holds in `grip run` and in every service.
 *
 * A stage whose work is one call for many messages (the ClickHouse sink: one insert) may also give
 * `batchHandler`: a polled batch is then admitted and handled at once, one promise for the batch
 * instead of a chain per record, and only the records it could not finish go on alone through
 * `handler`, with the retries, pauses and dead letters above.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { HandlerResult } from '../result.ts';
import { jsonLogger } from '../log.ts';
import { DEFAULT_BACKOFF, backoffDelay, sleep, withRetry, type BackoffOptions } from '../retry.ts';
import { processDependencies, type DependencyBoard } from '../dependencies.ts';
import { Semaphore } from '../semaphore.ts';
import { topicSpec } from '../../../schemas/catalog.ts';
import { dlqRecord, replayedForAnotherStage } from './dlq.ts';
import { ClassifiedError, classifyError, dlqReasonOf, errorMessage, kafkaFailureKind } from './errors.ts';
import { OffsetTracker, type BatchTicket } from './offsets.ts';
import type { Serde } from './serde.ts';
import { computeLag, type AdminPort, type ConsumerPort, type InRecord, type KafkaTransport, type OutRecord, type PartitionBatch, type ProducerPort, type TopicPartitionOffset } from './transport.ts';

const messagesIn = new Counter({ name: 'grip_stage_messages_in_total', help: 'Messages consumed by a stage', labelNames: ['stage'] as const });
const messagesOut = new Counter({ name: 'grip_stage_messages_out_total', help: 'Messages a stage produced to its output topic', labelNames: ['stage'] as const });
const dlqTotal = new Counter({ name: 'grip_stage_dlq_total', help: 'Messages a stage sent to its DLQ, by reason', labelNames: ['stage', 'reason'] as const });
const dropTotal = new Counter({ name: 'grip_stage_dropped_total', help: 'Messages a stage dropped on purpose, by reason', labelNames: ['stage', 'reason'] as const });
const retryTotal = new Counter({ name: 'grip_stage_retries_total', help: 'Message retries after a retriable error', labelNames: ['stage'] as const });
const commitFailures = new Counter({ name: 'grip_stage_commit_failures_total', help: 'Offset commits the broker refused (work is redelivered)', labelNames: ['stage'] as const });
const batchSeconds = new Histogram({
  name: 'grip_stage_batch_duration_seconds',
  help: 'Time from the start of a batch to the broker ack of its outputs',
  labelNames: ['stage'] as const,
  buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
});
const consumerLag = new Gauge({ name: 'grip_stage_consumer_lag_messages', help: 'End offset minus committed offset, summed over the input partitions', labelNames: ['stage'] as const });
const inFlightBatches = new Gauge({ name: 'grip_stage_in_flight_batches', help: 'Batches being processed', labelNames: ['stage'] as const });

export interface StageContext {
  stage: string;
  /** The consumed record (topic, partition, offset, key, headers, original bytes). */
  record: InRecord;
  /** 0 on the first try, then 1, 2, ... after retriable errors. */
  attempt: number;
  /** The record is the last of the batch it was delivered in. */
  lastInBatch: boolean;
  /**
   * Whether this stage has handled everything its input topic holds right now (counting this
   * record as handled): every partition's end offset is at or below what was committed or handled.
   * One admin round trip; meant for the ordered step of a low-volume stage (concept-graph).
   */
  inputDrained(): Promise<boolean>;
}

export type StageHandler<In, Out> = (value: In, ctx: StageContext) => Promise<HandlerResult<Out | Out[]>>;

/** The in-order second half of a split stage: `handler` gave `prepared`, this makes the output. */
export type OrderedStep<In, Prepared, Out> = (prepared: Prepared, value: In, ctx: StageContext) => Promise<HandlerResult<Out | Out[]>>;

export interface StageOptions<In, Out, Prepared = Out | Out[]> {
  /** Stage name: the `stage` metric label and the dlq-stage header. */
  name: string;
  inputTopic: string;
  groupId: string;
  handler: (value: In, ctx: StageContext) => Promise<HandlerResult<Prepared>>;
  /** Optional second step, run in offset order within a partition after `handler` returned ok. */
  ordered?: OrderedStep<In, Prepared, Out>;
  /**
   * Optional fast path: a polled batch's decoded values at once (in offset order), answered with
   * one outcome per value, in the same order: a result, or the Error its handling failed with.
   * A record answered with an Error (or all of them, when the call throws) goes on alone through
   * `handler` as its retry: a non-retriable error dead-letters it without calling `handler`, a
   * retriable one is retried after backoff, a configuration error pauses. Admission counts the
   * batch's records against `concurrency` (a batch over it takes all the slots). Not with `ordered`.
   */
  batchHandler?: (values: In[], contexts: StageContext[]) => Promise<Array<HandlerResult<Prepared> | Error>>;
  /** Turns a record into the handler's input. Default: the serde's Avro decode of the input topic. */
  decode?: (record: InRecord) => Promise<In>;
  /** Where ok values go; a stage without one (a sink) only has side effects. */
  outputTopic?: string;
  /** Default: the DLQ declared for the input topic in schemas/topics.yaml. */
  dlqTopic?: string;
  transport: KafkaTransport;
  serde: Serde;
  /** Messages handled at once, over all batches. Default 8. */
  concurrency?: number;
  /**
   * Backpressure by record: a fetched record starts only when this says what the stage waits on
   * can take more (e.g. few model requests queue for their endpoint's limiter), or when nothing of
   * the stage is in flight. Asked again when a record finishes, at the latest after 5 ms.
   */
  ready?: () => boolean;
  /** Batches fetched and not yet committed; the consumer stops reading beyond it. Default 4. */
  maxInFlightBatches?: number;
  /** Cap on records per poll (and so per batch). Default 100. */
  maxBatchRecords?: number;
  /** Retries of one message after retriable errors before the stage crashes. Default: no cap but `patienceMs`. */
  maxRetries?: number;
  /** How long a message may keep failing with retriable errors before the stage crashes, ms. Default: for ever. */
  patienceMs?: number;
  /**
   * A dependency refusing our configuration (401/403/404, ClickHouse auth): 'pause' (default: take
   * no new message, retry the failed ones with backoff up to 30 s until it works; health says
   * degraded) or 'fail' (crash at once: `grip run` stops and says why).
   */
  onConfigurationError?: 'pause' | 'fail';
  backoff?: BackoffOptions;
  /** Backoff of the retries while a dependency refuses the configuration. Default 1 s doubling to 30 s. */
  configurationBackoff?: BackoffOptions;
  /** Where dependency problems are reported and read (default: the process's). */
  board?: DependencyBoard;
  /** Stop gracefully on SIGTERM / SIGINT. Default true; tests pass false. */
  handleSignals?: boolean;
  /** How often the lag gauge is refreshed, ms; 0 turns it off. Default 10 000. */
  lagIntervalMs?: number;
  sessionTimeoutMs?: number;
  now?: () => number;
  log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

export interface StageStats {
  in: number;
  out: number;
  dlq: number;
  dropped: number;
  retries: number;
  batches: number;
  /** Last committed offset per `topic:partition`. */
  committed: Record<string, bigint>;
}

export interface StageHandle {
  /** Graceful stop: stop polling, drain in-flight batches, flush the producer, commit, disconnect. */
  stop(): Promise<void>;
  /** Resolves after a graceful stop; rejects with the error that crashed the stage. */
  done: Promise<void>;
  stats(): StageStats;
  /** False once the stage crashed or began stopping: the /healthz answer of a service. */
  healthy(): boolean;
  /** Input partitions this member owns now (changes on rebalance). */
  assignments(): Array<{ topic: string; partitions: number[] }>;
}

/** What one message turned into: records to produce (outputs or its DLQ record) and counts. */
interface RecordOutcome {
  records: OutRecord[];
  kind: 'ok' | 'dlq' | 'drop';
  reason?: string;
}

const defaultLog = jsonLogger();

/** Retries of a message while a dependency refuses the configuration: 1 s doubling to 30 s. */
const CONFIGURATION_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000, factor: 2 };
/** Retries while the broker is unreachable: 250 ms doubling to 5 s (a restart takes seconds). */
const KAFKA_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 5000, factor: 2 };

/** A message given up because the stage stops while it waits on a dependency: not committed, not a crash. */
class Abandoned extends Error {
  constructor(cause: unknown) {
    super(`stopping while waiting on a dependency: ${errorMessage(cause)}`, { cause });
    this.name = 'Abandoned';
  }
}

export async function runStage<In, Out, Prepared = Out | Out[]>(options: StageOptions<In, Out, Prepared>): Promise<StageHandle> {
  const stage = options.name;
  const now = options.now ?? Date.now;
  const log = options.log ?? defaultLog;
  const dlqTopic = options.dlqTopic ?? topicSpec(options.inputTopic).dlq;
  const maxRetries = options.maxRetries ?? Number.POSITIVE_INFINITY;
  const patienceMs = options.patienceMs ?? Number.POSITIVE_INFINITY;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const board = options.board ?? processDependencies;
  const pauseOnConfiguration = options.onConfigurationError !== 'fail';
  if (options.batchHandler && options.ordered) throw new Error(`stage ${stage}: batchHandler and ordered cannot be combined (the ordered step runs record by record)`);
  const recordSlots = new Semaphore(options.concurrency ?? 8);
  const batchSlots = new Semaphore(options.maxInFlightBatches ?? 4);
  const tracker = new OffsetTracker();
  const stats: StageStats = { in: 0, out: 0, dlq: 0, dropped: 0, retries: 0, batches: 0, committed: {} };

  const producer: ProducerPort = options.transport.producer();
  const newConsumer = () =>
    options.transport.consumer({
      groupId: options.groupId,
      topics: [options.inputTopic],
      maxRecords: options.maxBatchRecords ?? 100,
      sessionTimeoutMs: options.sessionTimeoutMs,
    });
  let consumer: ConsumerPort = await newConsumer();

  const polling = new AbortController();
  /** Aborted by stop(): messages waiting out a dependency give up (uncommitted: they come back). */
  const stopping = new AbortController();
  const inFlight = new Set<Promise<void>>();
  let crashError: unknown;
  let commitChain: Promise<void> = Promise.resolve();

  // ---- ordering and progress ---------------------------------------------------------------
  /** Per partition, the promise the next record's ordered step waits for (its predecessor's). */
  const orderChains = new Map<number, Promise<void>>();
  /** Per partition, the offset after the last record whose handling finished. */
  const handledTo = new Map<number, bigint>();

  /** Registers a record in its partition's order; must be called in delivery order. */
  function takeTurn(record: InRecord): { wait: Promise<void>; release: () => void } {
    const wait = orderChains.get(record.partition) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    orderChains.set(record.partition, wait.then(() => done));
    return { wait, release };
  }

  async function inputDrained(record: InRecord): Promise<boolean> {
    admin ??= options.transport.admin();
    const [ends, committed] = await Promise.all([admin.endOffsets([options.inputTopic]), admin.groupOffsets(options.groupId, [options.inputTopic])]);
    const committedBy = new Map(committed.map((c) => [c.partition, c.offset]));
    return ends.every((end) => {
      let position = committedBy.get(end.partition) ?? 0n;
      const handled = handledTo.get(end.partition);
      if (handled !== undefined && handled > position) position = handled;
      if (end.partition === record.partition && record.offset + 1n > position) position = record.offset + 1n;
      return position >= end.offset;
    });
  }

  // ---- one message -------------------------------------------------------------------------
  async function handleRecord(record: InRecord, lastInBatch: boolean, turn: { wait: Promise<void>; release: () => void }): Promise<RecordOutcome> {
    try {
      if (replayedForAnotherStage(record, stage)) return { kind: 'drop', reason: 'replayed_for_another_stage', records: [] };
      const outcome = await attemptRecord(record, lastInBatch, turn.wait);
      markHandled(record);
      return outcome;
    } finally {
      turn.release();
    }
  }

  /** Moves its partition's handled position (inputDrained) past the record. */
  function markHandled(record: InRecord): void {
    const handled = handledTo.get(record.partition);
    if (handled === undefined || record.offset + 1n > handled) handledTo.set(record.partition, record.offset + 1n);
  }

  function decodeRecord(record: InRecord): Promise<In> {
    return options.decode ? options.decode(record) : (options.serde.decode(options.inputTopic, record.value) as Promise<In>);
  }

  /**
   * Handles one record until it has an outcome. `failedFirst`: the error its first attempt ended
   * with elsewhere (the batch path); handling starts from that failure, as if attempt 0 threw it.
   */
  async function attemptRecord(record: InRecord, lastInBatch: boolean, predecessor: Promise<void>, failedFirst?: { error: unknown }): Promise<RecordOutcome> {
    let firstFailure: number | undefined;
    let refusedBy: string | undefined;
    let pauses = 0;
    let earlier = failedFirst;
    for (let attempt = 0; ; attempt++) {
      if (crashError !== undefined) throw new Error(`stage ${stage} crashed; message not handled`);
      try {
        if (earlier) {
          const { error } = earlier;
          earlier = undefined;
          throw error;
        }
        const value = await decodeRecord(record);
        const ctx: StageContext = { stage, record, attempt, lastInBatch, inputDrained: () => inputDrained(record) };
        const prepared = await options.handler(value, ctx);
        const outcome =
          prepared.kind !== 'ok' || !options.ordered
            ? await routeResult(record, prepared as HandlerResult<Out | Out[]>)
            : await predecessor.then(async () => routeResult(record, await options.ordered!(prepared.value, value, ctx)));
        if (refusedBy !== undefined) board.succeeded(refusedBy);
        return outcome;
      } catch (error) {
        const kind = classifyError(error);
        if (kind === 'non_retriable') {
          return { kind: 'dlq', reason: dlqReasonOf(error), records: [dlqRecord(dlqTopic, record, { stage, reason: dlqReasonOf(error), detail: errorMessage(error), now: now() })] };
        }
        if (stopping.signal.aborted && (kind === 'retriable' || kind === 'configuration')) throw new Abandoned(error);
        if (kind === 'configuration' && pauseOnConfiguration && crashError === undefined) {
          // Not the message's fault and not passing by itself: nothing is committed or dead-lettered;
          // admit() takes no new message while the board lists the refusal; this one probes.
          refusedBy = (error as ClassifiedError).dependency ?? stage;
          board.failed(refusedBy, 'configuration', errorMessage(error));
          if (pauses === 0) log('error', 'a dependency refuses the configuration: stage paused, retrying until it works (nothing is committed or dead-lettered)', { stage, dependency: refusedBy, error: errorMessage(error) });
          await sleep(backoffDelay(pauses++, options.configurationBackoff ?? CONFIGURATION_BACKOFF), stopping.signal).catch(() => undefined);
          continue;
        }
        firstFailure ??= now();
        if (kind === 'retriable' && attempt < maxRetries && now() - firstFailure < patienceMs && crashError === undefined) {
          stats.retries++;
          retryTotal.inc({ stage });
          if (attempt < 3 || attempt % 10 === 0) log('warn', 'retriable error, retrying message', { stage, topic: record.topic, partition: record.partition, offset: record.offset, attempt, error: errorMessage(error) });
          await sleep(backoffDelay(attempt, backoff), stopping.signal).catch(() => undefined);
          continue;
        }
        throw error; // unknown, configuration in grip run, or retriable past patience: crash without committing
      }
    }
  }

  async function routeResult(record: InRecord, result: HandlerResult<Out | Out[]>): Promise<RecordOutcome> {
    if (result.kind === 'drop') return { kind: 'drop', reason: result.reason, records: [] };
    if (result.kind === 'dlq') {
      return { kind: 'dlq', reason: result.reason, records: [dlqRecord(dlqTopic, record, { stage, reason: result.reason, detail: result.detail, now: now() })] };
    }
    const values = Array.isArray(result.value) ? result.value : [result.value];
    if (!options.outputTopic) return { kind: 'ok', records: [] };
    const topic = options.outputTopic;
    const records = await Promise.all(
      values.map(async (value) => ({ topic, key: options.serde.keyOf(topic, value), value: await options.serde.encode(topic, value) })),
    );
    return { kind: 'ok', records };
  }

  /** The batch path: decode all, one batchHandler call, the records it could not finish alone. */
  async function handleAtOnce(records: InRecord[]): Promise<RecordOutcome[]> {
    const last = records.length - 1;
    const outcomes = new Array<RecordOutcome>(records.length);
    const values: In[] = [];
    const contexts: StageContext[] = [];
    const positions: number[] = [];
    const alone: Array<{ index: number; error: unknown }> = [];
    for (let i = 0; i <= last; i++) {
      const record = records[i]!;
      if (replayedForAnotherStage(record, stage)) {
        outcomes[i] = { kind: 'drop', reason: 'replayed_for_another_stage', records: [] };
        continue;
      }
      try {
        values.push(await decodeRecord(record));
      } catch (error) {
        alone.push({ index: i, error });
        continue;
      }
      contexts.push({ stage, record, attempt: 0, lastInBatch: i === last, inputDrained: () => inputDrained(record) });
      positions.push(i);
    }
    let results: Array<HandlerResult<Prepared> | Error>;
    try {
      results = values.length > 0 ? await options.batchHandler!(values, contexts) : [];
    } catch (error) {
      // the whole call failed: every record retries alone
      results = values.map(() => (error instanceof Error ? error : new Error(errorMessage(error))));
    }
    if (results.length !== values.length) throw new Error(`stage ${stage}: batchHandler answered ${results.length} outcomes for ${values.length} values`);
    for (let j = 0; j < results.length; j++) {
      const result = results[j]!;
      const index = positions[j]!;
      if (result instanceof Error) {
        alone.push({ index, error: result });
        continue;
      }
      try {
        outcomes[index] = await routeResult(records[index]!, result as HandlerResult<Out | Out[]>);
      } catch (error) {
        alone.push({ index, error }); // e.g. an output that does not fit its schema: dead-lettered as on the per-record path
      }
    }
    const noPredecessor = Promise.resolve();
    await Promise.all(
      alone.map(async ({ index, error }) => {
        outcomes[index] = await attemptRecord(records[index]!, index === last, noPredecessor, { error });
      }),
    );
    markHandled(records[last]!);
    return outcomes;
  }

  // ---- one batch ---------------------------------------------------------------------------
  /** The broker unreachable: waited out like any dependency (a rolling restart is routine). */
  function sendWithRetry(records: OutRecord[]): Promise<void> {
    return withRetry(
      {
        site: 'kafka_produce',
        dependency: 'kafka',
        classify: kafkaFailureKind,
        patienceMs,
        maxAttempts: maxRetries + 1,
        backoff: KAFKA_BACKOFF,
        board,
        signal: stopping.signal,
        onRetry: (error, _kind, attempt) => {
          retryTotal.inc({ stage });
          if (attempt < 3 || attempt % 10 === 0) log('warn', 'produce failed; retrying', { stage, attempt, error: errorMessage(error) });
        },
      },
      () => producer.send(records),
    ).catch((error) => {
      throw stopping.signal.aborted ? new Abandoned(error) : error;
    });
  }

  // ---- admission of one record ------------------------------------------------------------
  let recordsInFlight = 0;
  let wake: (() => void) | undefined;
  const recordFinished = () => new Promise<void>((resolve) => (wake = resolve));

  /** Starts a record once a slot is free and `ready()` agrees; resolves with its outcome later. */
  function admit(record: InRecord, lastInBatch: boolean, turn: { wait: Promise<void>; release: () => void }): Promise<{ running: Promise<RecordOutcome> }> {
    return startAdmitted(1, 1, () => handleRecord(record, lastInBatch, turn));
  }

  /**
   * Starts the work of `records` records once `slots` record slots are free and `ready()` and the
   * dependency board allow it; resolves when it started, with its outcome to come.
   */
  async function startAdmitted<T>(records: number, slots: number, work: () => Promise<T>): Promise<{ running: Promise<T> }> {
    await recordSlots.acquire(slots);
    while (options.ready && recordsInFlight > 0 && crashError === undefined && !options.ready()) {
      await Promise.race([recordFinished(), sleep(5)]);
    }
    // A dependency refuses our configuration: the messages in flight probe it; no new one starts.
    while (pauseOnConfiguration && recordsInFlight > 0 && crashError === undefined && !stopping.signal.aborted && board.refusing().length > 0) {
      await Promise.race([recordFinished(), sleep(250)]);
    }
    recordsInFlight += records;
    stats.in += records;
    messagesIn.inc({ stage }, records);
    const running = work().finally(() => {
      recordsInFlight -= records;
      recordSlots.release(slots);
      wake?.();
    });
    running.catch(() => undefined); // the batch reports it
    return { running };
  }

  /**
   * Records are admitted one by one: the poll loop fetches the next batch as soon as the last
   * record of this one started, not when its slowest message ended. Turns of the ordered step are
   * taken here, in offset order, before any record may wait for one.
   */
  async function admitEach(records: InRecord[]): Promise<{ running: Promise<RecordOutcome[]> }> {
    const turns = records.map((record) => takeTurn(record));
    const last = records.length - 1;
    const started: Array<Promise<RecordOutcome>> = [];
    for (const [i, record] of records.entries()) started.push((await admit(record, i === last, turns[i]!)).running);
    return { running: Promise.all(started) };
  }

  /** The batch path's admission: the batch's records take their slots together (at most all of them). */
  function admitBatch(records: InRecord[]): Promise<{ running: Promise<RecordOutcome[]> }> {
    return startAdmitted(records.length, Math.min(records.length, recordSlots.capacity), () => handleAtOnce(records));
  }

  async function processBatch(batch: PartitionBatch, ticket: BatchTicket, started: Promise<RecordOutcome[]>): Promise<void> {
    const stopTimer = batchSeconds.startTimer({ stage });
    inFlightBatches.inc({ stage });
    try {
      const outcomes = await started;
      // Outputs and dead letters of the batch go out together, in message order; the batch is done
      // only when the broker acknowledged them all.
      await sendWithRetry(outcomes.flatMap((o) => o.records));
      countOutcomes(outcomes);
      stats.batches++;
      stopTimer();
      const commitTo = tracker.finish(ticket);
      if (commitTo) await enqueueCommit(commitTo);
    } finally {
      inFlightBatches.dec({ stage });
    }
  }

  /** Stats and metrics of a finished batch: one metric update per kind and reason, not per record. */
  function countOutcomes(outcomes: RecordOutcome[]): void {
    let out = 0;
    const dead = new Map<string, number>();
    const dropped = new Map<string, number>();
    for (const o of outcomes) {
      if (o.kind === 'ok') out += o.records.length;
      else {
        const tally = o.kind === 'dlq' ? dead : dropped;
        const reason = o.reason ?? 'unknown';
        tally.set(reason, (tally.get(reason) ?? 0) + 1);
      }
    }
    stats.out += out;
    messagesOut.inc({ stage }, out);
    for (const [reason, n] of dead) {
      stats.dlq += n;
      dlqTotal.inc({ stage, reason }, n);
    }
    for (const [reason, n] of dropped) {
      stats.dropped += n;
      dropTotal.inc({ stage, reason }, n);
    }
  }

  /** Commits run one after another, so an older offset never lands after a newer one. */
  function enqueueCommit(offset: TopicPartitionOffset): Promise<void> {
    commitChain = commitChain.then(async () => {
      try {
        await consumer.commit([offset]);
        stats.committed[`${offset.topic}:${offset.partition}`] = offset.offset;
      } catch (error) {
        // Typically a rebalance moved the partition: the new owner re-reads from the last commit.
        // At-least-once holds; deterministic ids make the repeat harmless downstream.
        commitFailures.inc({ stage });
        log('warn', 'offset commit failed', { stage, ...offset, error: errorMessage(error) });
      }
    });
    return commitChain;
  }

  function crash(error: unknown): void {
    if (crashError !== undefined) return;
    crashError = error ?? new Error('unknown failure');
    log('error', 'stage crashed; the failed batch is not committed', { stage, error: errorMessage(error) });
    polling.abort();
  }

  // ---- the poll loop -----------------------------------------------------------------------
  /**
   * The consumer's connection failed (the broker restarts): let what runs finish (its sends wait
   * for the broker), close the consumer, and make a new one once the broker answers; it rejoins the
   * group and resumes from the last commit (the uncommitted rest comes again: at-least-once).
   */
  async function reconnect(cause: unknown): Promise<void> {
    board.failed('kafka', kafkaFailureKind(cause) ?? 'transient', errorMessage(cause));
    log('warn', 'lost the broker; reconnecting when it is back', { stage, error: errorMessage(cause) });
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    await commitChain;
    const old = consumer;
    await old.close().catch(() => undefined);
    consumer = await withRetry(
      { site: 'kafka_consume', dependency: 'kafka', classify: (error) => kafkaFailureKind(error) ?? 'transient', patienceMs, backoff: KAFKA_BACKOFF, board, signal: polling.signal },
      () => newConsumer(),
    );
    log('info', 'consumer reconnected', { stage });
  }

  async function nextBatches(): Promise<PartitionBatch[]> {
    for (;;) {
      try {
        const batches = await consumer.nextBatches(polling.signal);
        if (batches.length > 0) board.succeeded('kafka');
        return batches;
      } catch (error) {
        // Whatever broke the consumer (connection, coordinator, a fetch that failed its retries), a
        // new one is the cure; the board says what it waits on.
        if (polling.signal.aborted) return []; // stopping: nothing more to read
        try {
          await reconnect(error);
        } catch (failure) {
          if (polling.signal.aborted) return [];
          throw failure;
        }
      }
    }
  }

  async function pollLoop(): Promise<void> {
    while (!polling.signal.aborted) {
      const batches = await nextBatches();
      for (const batch of batches) {
        if (batch.records.length === 0) continue;
        await batchSlots.acquire();
        if (polling.signal.aborted) {
          // Not started, not committed: the group hands these messages out again.
          batchSlots.release();
          return;
        }
        const lastOffset = batch.records[batch.records.length - 1]!.offset;
        const ticket = tracker.begin(batch.topic, batch.partition, lastOffset);
        // admitted (not finished): the poll loop goes on to the next batch
        const { running } = options.batchHandler ? await admitBatch(batch.records) : await admitEach(batch.records);
        const task = processBatch(batch, ticket, running)
          .catch((error) => (error instanceof Abandoned ? undefined : crash(error)))
          .finally(() => {
            batchSlots.release();
            inFlight.delete(task);
          });
        inFlight.add(task);
      }
    }
  }

  // ---- lag ---------------------------------------------------------------------------------
  let admin: AdminPort | undefined;
  const lagIntervalMs = options.lagIntervalMs ?? 10_000;
  const lagTimer =
    lagIntervalMs > 0
      ? setInterval(() => {
          admin ??= options.transport.admin();
          const a = admin;
          void Promise.all([a.endOffsets([options.inputTopic]), a.groupOffsets(options.groupId, [options.inputTopic])])
            .then(([end, committed]) => consumerLag.set({ stage }, Number(computeLag(end, committed).total)))
            .catch(() => undefined); // a missed sample is fine
        }, lagIntervalMs)
      : undefined;
  lagTimer?.unref();

  // ---- shutdown ----------------------------------------------------------------------------
  let finished: Promise<void> | undefined;
  const loop = pollLoop().catch(crash);

  async function shutdown(): Promise<void> {
    stopping.abort();
    polling.abort();
    await loop;
    // drain: every started batch finishes (or fails) before we commit and leave
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    await commitChain;
    if (lagTimer) clearInterval(lagTimer);
    const closing = await Promise.allSettled([producer.close(), consumer.close(), admin?.close()]);
    for (const c of closing) if (c.status === 'rejected') log('warn', 'error while disconnecting', { stage, error: errorMessage(c.reason) });
    if (onSignal) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    log('info', crashError === undefined ? 'stage stopped' : 'stage crashed and disconnected', { stage, ...stats });
    if (crashError !== undefined) throw crashError;
  }

  const stop = (): Promise<void> => {
    finished ??= shutdown();
    return finished.catch(() => undefined);
  };

  // A crash aborts polling; shut down on our own then (the caller learns it from `done`).
  const done = new Promise<void>((resolve, reject) => {
    polling.signal.addEventListener('abort', () => {
      finished ??= shutdown();
      finished.then(resolve, reject);
    }, { once: true });
  });

  const onSignal = options.handleSignals === false ? undefined : () => void stop();
  if (onSignal) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  log('info', 'stage started', { stage, inputTopic: options.inputTopic, outputTopic: options.outputTopic, groupId: options.groupId });
  return { stop, done, stats: () => ({ ...stats, committed: { ...stats.committed } }), assignments: () => consumer.assignments(), healthy: () => !polling.signal.aborted };
}

