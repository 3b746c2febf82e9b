/** In-memory fakes of the Kafka transport and serde, for unit tests of the consumer wrapper. */
import { DecodeError } from '../../../services/runtime/kafka/errors.ts';
import type { Serde } from '../../../services/runtime/kafka/serde.ts';
import type { AdminPort, ConsumerPort, InRecord, KafkaTransport, OffsetResetTarget, OutRecord, PartitionBatch, TopicPartitionOffset } from '../../../services/runtime/kafka/transport.ts';

export function record(topic: string, partition: number, offset: number, value: unknown, key = `k${offset}`): InRecord {
  return {
    topic,
    partition,
    offset: BigInt(offset),
    key: Buffer.from(key),
    value: typeof value === 'string' ? Buffer.from(value) : Buffer.from(JSON.stringify(value)),
    headers: {},
    timestamp: 0n,
  };
}

export class FakeConsumer implements ConsumerPort {
  readonly commits: TopicPartitionOffset[] = [];
  closed = false;
  private readonly deliveries: PartitionBatch[][] = [];
  private wake: (() => void) | undefined;

  deliver(batches: PartitionBatch[]): void {
    this.deliveries.push(batches);
    this.wake?.();
  }

  async nextBatches(signal?: AbortSignal): Promise<PartitionBatch[]> {
    for (;;) {
      if (signal?.aborted || this.closed) return [];
      const next = this.deliveries.shift();
      if (next) return next;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    this.commits.push(...offsets);
  }

  assignments() {
    return [{ topic: 'in', partitions: [0, 1] }];
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export class FakeProducer {
  readonly sent: OutRecord[] = [];
  closed = false;
  /** Fails the next N sends with this error. */
  failures: Error[] = [];
  async send(records: OutRecord[]): Promise<void> {
    const failure = this.failures.shift();
    if (failure) throw failure;
    this.sent.push(...records);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

export function fakeTransport(consumer = new FakeConsumer(), producer = new FakeProducer()): KafkaTransport & { fakeConsumer: FakeConsumer; fakeProducer: FakeProducer } {
  return {
    fakeConsumer: consumer,
    fakeProducer: producer,
    producer: () => producer,
    consumer: async () => consumer,
    admin: () => {
      throw new Error('admin is not used by these tests');
    },
  } as KafkaTransport & { fakeConsumer: FakeConsumer; fakeProducer: FakeProducer };
}

/** JSON instead of Avro; the key is the value's `id`. */
export const jsonSerde: Serde = {
  schemaId: () => 1,
  async encode(_topic, value) {
    return Buffer.from(JSON.stringify(value));
  },
  async decode(topic, bytes) {
    try {
      return JSON.parse(bytes?.toString('utf8') ?? '');
    } catch (error) {
      throw new DecodeError(`${topic}: not JSON`, { cause: error });
    }
  },
  keyOf(_topic, value) {
    return Buffer.from(String((value as { id: unknown }).id));
  },
};

export type { AdminPort };

/**
 * An in-memory broker for log readers: one partition per topic, every consumer reads its topics
 * from the start and then follows (no group coordination, no commits kept). Enough for readLog and
 * for several SharedKcRegistry instances sharing one grip.kc-registry log.
 */
export class MemoryLog implements KafkaTransport {
  readonly topics = new Map<string, InRecord[]>();
  private readonly waiters = new Set<() => void>();

  records(topic: string): InRecord[] {
    let list = this.topics.get(topic);
    if (!list) this.topics.set(topic, (list = []));
    return list;
  }

  append(out: OutRecord): void {
    const list = this.records(out.topic);
    const headers = Object.fromEntries(Object.entries(out.headers ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)]));
    list.push({ topic: out.topic, partition: 0, offset: BigInt(list.length), key: out.key, value: out.value, headers, timestamp: BigInt(Date.now()) });
    for (const wake of [...this.waiters]) wake();
  }

  producer() {
    return { send: async (records: OutRecord[]) => records.forEach((r) => this.append(r)), close: async () => {} };
  }

  /** Where a group's consumers start, per topic (resetGroupOffsets: a log reader started from a checkpoint). */
  private readonly groupStarts = new Map<string, Map<string, number>>();

  async consumer(options: { groupId?: string; topics: string[]; maxRecords?: number }): Promise<ConsumerPort> {
    const starts = this.groupStarts.get(options.groupId ?? '');
    const positions = new Map(options.topics.map((t) => [t, starts?.get(t) ?? 0]));
    let closed = false;
    const log = this;
    return {
      async nextBatches(signal?: AbortSignal): Promise<PartitionBatch[]> {
        for (;;) {
          if (signal?.aborted || closed) return [];
          const batches: PartitionBatch[] = [];
          for (const [topic, at] of positions) {
            const records = log.records(topic).slice(at, at + (options.maxRecords ?? 1000));
            if (records.length === 0) continue;
            positions.set(topic, at + records.length);
            batches.push({ topic, partition: 0, records });
          }
          if (batches.length > 0) return batches;
          await new Promise<void>((resolve) => {
            const wake = () => {
              log.waiters.delete(wake);
              resolve();
            };
            log.waiters.add(wake);
            signal?.addEventListener('abort', wake, { once: true });
            setTimeout(wake, 50); // a close() without a signal is noticed soon
          });
        }
      },
      commit: async () => {},
      assignments: () => options.topics.map((topic) => ({ topic, partitions: [0] })),
      close: async () => {
        closed = true;
      },
    };
  }

  admin(): AdminPort {
    const unused = async (): Promise<never> => {
      throw new Error('MemoryLog: not supported');
    };
    return {
      endOffsets: async (topics: string[]) => topics.map((topic) => ({ topic, partition: 0, offset: BigInt(this.records(topic).length) })),
      startOffsets: async (topics: string[]) => topics.map((topic) => ({ topic, partition: 0, offset: 0n })),
      deleteRecords: unused,
      deleteGroups: async () => {},
      close: async () => {},
      createTopics: unused,
      listTopics: unused,
      describeTopics: unused,
      topicConfig: unused,
      deleteTopics: unused,
      groupOffsets: unused,
      offsetsForTimestamp: unused,
      resetGroupOffsets: async (groupId: string, topic: string, target: OffsetResetTarget) => {
        if (!('partitions' in target)) return unused();
        const offset = target.partitions.get(0) ?? 0n;
        let starts = this.groupStarts.get(groupId);
        if (!starts) this.groupStarts.set(groupId, (starts = new Map()));
        starts.set(topic, Number(offset));
        return [{ topic, partition: 0, offset }];
      },
    };
  }
}
