/** In-memory fakes of the Kafka transport and serde, for unit tests of the consumer wrapper. */
import { DecodeError } from '../../../services/runtime/kafka/errors.ts';
import type { Serde } from '../../../services/runtime/kafka/serde.ts';
import type { AdminPort, ConsumerPort, InRecord, KafkaTransport, OutRecord, PartitionBatch, TopicPartitionOffset } from '../../../services/runtime/kafka/transport.ts';

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
