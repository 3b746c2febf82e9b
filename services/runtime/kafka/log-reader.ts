/**
 * Reads a topic as a log of state: from its first record to the end offsets seen at start
 * (`caughtUp`), then, with `follow`, on as new records arrive. Stateful stages rebuild their state
 * this way on start (concept-graph from grip.concepts and grip.pairs, the judge's dedup from
 * grip.seeds and grip.verdicts, the shared KC registry from grip.kc-registry).
 *
 * It reads through a private consumer group that never commits (the topic is read whole, or from
 * the positions `from` gives: a checkpoint's), deleted when the reader stops.
 *
 * Never a silent skip: state rebuilt without a record is wrong for good (a KC registry replica
 * that missed an entry diverges from the others). A record that fails to decode for a passing
 * reason (the schema registry briefly unreachable: a RetriableError or a connection error) is
 * decoded again with backoff, for as long as it takes; the reader waits and nothing after it is
 * applied meanwhile. Only a record that is truly undecodable (bad bytes, an unknown schema id) is
 * skipped: reported to `onBadRecord`, logged as an error with its position, and counted in
 * grip_log_reader_bad_records_total. It stays in the log. Any other error (a bug in a decoder)
 * fails the reader. A broker that goes away is waited for: the consumer is made again once the
 * broker answers and the reader goes on from the record after the last one it applied.
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { Counter } from 'prom-client';
import { classifyError, errorMessage, kafkaFailureKind } from './errors.ts';
import { jsonLogger, type Logger } from '../log.ts';
import { backoffDelay, sleep, withRetry, type BackoffOptions } from '../retry.ts';
import type { Serde } from './serde.ts';
import type { InRecord, KafkaTransport, TopicPartitionOffset } from './transport.ts';

const badRecords = new Counter({
  name: 'grip_log_reader_bad_records_total',
  help: 'Records a log reader skipped because they cannot be decoded (bad bytes), by topic and reader',
  labelNames: ['topic', 'reader'] as const,
});
const decodeRetries = new Counter({
  name: 'grip_log_reader_decode_retries_total',
  help: 'Decode attempts of a log reader that failed for a passing reason (schema registry unreachable) and were retried, by topic and reader',
  labelNames: ['topic', 'reader'] as const,
});

/** Backoff between decode attempts of one record: up to 5 s, so a registry back up is noticed soon. */
const DECODE_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 5_000, factor: 2 };

export interface LogReaderOptions<T> {
  transport: KafkaTransport;
  serde: Serde;
  topic: string;
  /** Names the private group, for operators reading the broker's group list. */
  name: string;
  /** Called once per record, in offset order within a partition; awaited before the next. */
  onValue: (value: T, record: InRecord) => void | Promise<void>;
  /** Keep reading after catching up. Default false: stop at the end offsets seen at start. */
  follow?: boolean;
  /**
   * Where to start, per partition (a checkpoint's positions: the next offset to read); partitions
   * not named start at their first record. Default: every partition from its first record.
   */
  from?: ReadonlyMap<number, bigint>;
  onBadRecord?: (record: InRecord, error: unknown) => void;
  /** Turns a record into a value. Default: the serde's Avro decode of the topic. */
  decode?: (record: InRecord) => Promise<T>;
  /** Where skipped records and decode retries are logged. Default: JSON lines on stderr. */
  log?: Logger;
  /** Backoff between attempts to decode a record that failed for a passing reason (tests). */
  backoff?: BackoffOptions;
}

export interface LogReader {
  /** Resolves when every record up to the end offsets seen at start was handed to onValue. */
  caughtUp: Promise<void>;
  /** Resolves after the reader stopped (at the end without follow, or after stop()); rejects if onValue threw. */
  done: Promise<void>;
  stop(): Promise<void>;
  /** Records handed to onValue so far. */
  count(): number;
}

const SKIPPED = Symbol('skipped');
const STOPPED = Symbol('stopped');

/** Partitions with records to read (start < end), with their end offsets. */
export function pendingPartitions(starts: TopicPartitionOffset[], ends: TopicPartitionOffset[]): Map<number, bigint> {
  const startOf = new Map(starts.map((s) => [s.partition, s.offset]));
  return new Map(ends.filter((e) => e.offset > (startOf.get(e.partition) ?? 0n)).map((e) => [e.partition, e.offset]));
}

const maxOffset = (a: bigint, b: bigint) => (a > b ? a : b);

export async function readLog<T>(options: LogReaderOptions<T>): Promise<LogReader> {
  const { transport, serde, topic } = options;
  const admin = transport.admin();
  let ends: Map<number, bigint>;
  try {
    // A partition is read up to its end only if it holds a record: once every record expired
    // (30-day DLQ retention), start = end > 0 and there is nothing to wait for.
    const [starts, endOffsets] = await Promise.all([admin.startOffsets([topic]), admin.endOffsets([topic])]);
    const from = options.from;
    ends = pendingPartitions(from ? starts.map((s) => ({ ...s, offset: maxOffset(s.offset, from.get(s.partition) ?? 0n) })) : starts, endOffsets);
  } finally {
    await admin.close().catch(() => undefined);
  }

  let resolveCaughtUp!: () => void;
  const caughtUp = new Promise<void>((resolve) => (resolveCaughtUp = resolve));
  let count = 0;
  if (ends.size === 0) {
    resolveCaughtUp();
    if (!options.follow) return { caughtUp, done: Promise.resolve(), stop: async () => {}, count: () => 0 };
  }

  const groupId = `grip-reader.${options.name}.${os.hostname()}.${process.pid}.${randomUUID().slice(0, 8)}`;
  if (options.from) {
    // The private group's one commit, made before it has a member: where its consumers start.
    const setter = transport.admin();
    try {
      await setter.resetGroupOffsets(groupId, topic, { partitions: options.from });
    } finally {
      await setter.close().catch(() => undefined);
    }
  }
  const join = () => transport.consumer({ groupId, topics: [topic], fromBeginning: true, maxWaitMs: 200, maxRecords: 1000 });
  let consumer = await join();
  const polling = new AbortController();
  const log = options.log ?? jsonLogger();
  /** Per partition, the offset after the last record applied: a new consumer reads from the start again. */
  const applied = new Map<number, bigint>(options.from ?? []);

  /** The consumer's connection failed: a new one once the broker answers (the group never commits: it reads from the start). */
  async function rejoin(cause: unknown): Promise<boolean> {
    log('warn', 'log reader lost the broker; reading on from where it was once it is back', { reader: options.name, topic, error: errorMessage(cause) });
    await consumer.close().catch(() => undefined);
    try {
      consumer = await withRetry(
        { site: 'kafka_consume', dependency: 'kafka', classify: (e) => kafkaFailureKind(e) ?? 'transient', patienceMs: Number.POSITIVE_INFINITY, backoff: { initialMs: 250, maxMs: 5000, factor: 2 }, signal: polling.signal },
        join,
      );
      return true;
    } catch (error) {
      if (polling.signal.aborted) return false;
      throw error;
    }
  }

  async function loop(): Promise<void> {
    while (!polling.signal.aborted) {
      let batches;
      try {
        batches = await consumer.nextBatches(polling.signal);
      } catch (error) {
        if (polling.signal.aborted || !(await rejoin(error))) return;
        continue;
      }
      for (const batch of batches) {
        for (const record of batch.records) {
          if (record.offset < (applied.get(record.partition) ?? 0n)) continue; // read again after a rejoin
          applied.set(record.partition, record.offset + 1n);
          const decoded = await decodeRecord(record);
          if (decoded === STOPPED) return;
          if (decoded === SKIPPED) {
            markRead(record);
            continue;
          }
          const value = decoded.value;
          await options.onValue(value, record);
          count++;
          markRead(record);
        }
      }
      if (ends.size === 0 && !options.follow) break;
    }
  }

  /** Decodes one record, retrying passing failures until it decodes, is bad for good, or the reader stops. */
  async function decodeRecord(record: InRecord): Promise<{ value: T } | typeof SKIPPED | typeof STOPPED> {
    const position = { reader: options.name, topic, partition: record.partition, offset: record.offset };
    for (let attempt = 0; ; attempt++) {
      try {
        return { value: options.decode ? await options.decode(record) : ((await serde.decode(topic, record.value)) as T) };
      } catch (error) {
        const kind = classifyError(error);
        // Neither bad bytes nor a passing failure: a bug; fail the reader (its service crashes) rather than skip.
        if (kind === 'unknown') throw error;
        if (kind === 'non_retriable') {
          badRecords.inc({ topic, reader: options.name });
          log('error', 'log reader skipped a record that cannot be decoded', { ...position, error: errorMessage(error) });
          options.onBadRecord?.(record, error);
          return SKIPPED;
        }
        decodeRetries.inc({ topic, reader: options.name });
        // The first failure, then every tenth: a registry down for minutes is one line per ~minute.
        if (attempt % 10 === 0) log('warn', 'log reader waits to decode a record (retrying)', { ...position, attempt: attempt + 1, error: errorMessage(error) });
        await sleep(backoffDelay(attempt, options.backoff ?? DECODE_BACKOFF), polling.signal).catch(() => undefined);
        if (polling.signal.aborted) return STOPPED;
      }
    }
  }

  function markRead(record: InRecord): void {
    const end = ends.get(record.partition);
    if (end !== undefined && record.offset + 1n >= end) {
      ends.delete(record.partition);
      if (ends.size === 0) resolveCaughtUp();
    }
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      polling.abort();
      await consumer.close().catch(() => undefined);
      const cleanup = transport.admin();
      // The group held no commits; deleting it keeps the broker's group list readable.
      await cleanup.deleteGroups([groupId]).catch(() => undefined);
      await cleanup.close().catch(() => undefined);
    })());

  const done = loop()
    .catch((error) => {
      throw new Error(`reading ${topic} failed: ${errorMessage(error)}`, { cause: error });
    })
    .finally(close);
  // A failure (or a stop) before catching up must not leave waiters on caughtUp hanging.
  const caughtUpOrFailed = Promise.race([caughtUp, done]);
  done.catch(() => undefined);
  caughtUpOrFailed.catch(() => undefined);
  return {
    caughtUp: caughtUpOrFailed,
    done,
    stop: async () => {
      await close();
      await done.catch(() => undefined);
    },
    count: () => count,
  };
}
