/**
 * Reads a topic as a log of state: from its first record to the end offsets seen at start
 * (`caughtUp`), then, with `follow`, on as new records arrive. Stateful stages rebuild their state
 * this way on start (concept-graph from grip.concepts and grip.pairs, the judge's dedup from
 * grip.seeds and grip.verdicts, the shared KC registry from grip.kc-registry).
 *
 * It reads through a private consumer group that never commits (the topic is always read whole),
 * deleted when the reader stops. A record that does not decode is reported to `onBadRecord` and
 * skipped: state is rebuilt from what can be read, and the bad record is not lost (it stays in the log).
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { errorMessage } from './errors.ts';
import type { Serde } from './serde.ts';
import type { InRecord, KafkaTransport, TopicPartitionOffset } from './transport.ts';

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
  onBadRecord?: (record: InRecord, error: unknown) => void;
  /** Turns a record into a value. Default: the serde's Avro decode of the topic. */
  decode?: (record: InRecord) => Promise<T>;
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

/** Partitions with records to read (start < end), with their end offsets. */
export function pendingPartitions(starts: TopicPartitionOffset[], ends: TopicPartitionOffset[]): Map<number, bigint> {
  const startOf = new Map(starts.map((s) => [s.partition, s.offset]));
  return new Map(ends.filter((e) => e.offset > (startOf.get(e.partition) ?? 0n)).map((e) => [e.partition, e.offset]));
}

export async function readLog<T>(options: LogReaderOptions<T>): Promise<LogReader> {
  const { transport, serde, topic } = options;
  const admin = transport.admin();
  let ends: Map<number, bigint>;
  try {
    // A partition is read up to its end only if it holds a record: once every record expired
    // (30-day DLQ retention), start = end > 0 and there is nothing to wait for.
    const [starts, endOffsets] = await Promise.all([admin.startOffsets([topic]), admin.endOffsets([topic])]);
    ends = pendingPartitions(starts, endOffsets);
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
  const consumer = await transport.consumer({ groupId, topics: [topic], fromBeginning: true, maxWaitMs: 200, maxRecords: 1000 });
  const polling = new AbortController();

  async function loop(): Promise<void> {
    while (!polling.signal.aborted) {
      const batches = await consumer.nextBatches(polling.signal);
      for (const batch of batches) {
        for (const record of batch.records) {
          let value: T;
          try {
            value = options.decode ? await options.decode(record) : ((await serde.decode(topic, record.value)) as T);
          } catch (error) {
            options.onBadRecord?.(record, error);
            markRead(record);
            continue;
          }
          await options.onValue(value, record);
          count++;
          markRead(record);
        }
      }
      if (ends.size === 0 && !options.follow) break;
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
