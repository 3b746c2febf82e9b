/**
 * KafkaTransport on @platformatic/kafka 1.x: pure TypeScript, maintained, idempotent producer,
 * classic consumer groups (kafkajs has had no release since 2023). This is the only file that
 * imports the client.
 */
import {
  Admin,
  ConfigResourceTypes,
  ConfigSources,
  Consumer,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  type Message,
  type MessagesStream,
} from '@platformatic/kafka';
import type { GripConfig } from '../config.ts';
import type {
  AdminPort,
  ConsumerOptions,
  ConsumerPort,
  InRecord,
  KafkaTransport,
  OffsetResetTarget,
  OutRecord,
  PartitionBatch,
  ProducerPort,
  TopicDescription,
  TopicPartitionOffset,
  TopicToCreate,
} from './transport.ts';
import { splitByBytes } from './transport.ts';
import { ClassifiedError } from '../errors.ts';

const LATEST = -1n;
const EARLIEST = -2n;

interface ClientSettings {
  clientId: string;
  bootstrapBrokers: string[];
}

export function platformaticTransport(kafka: GripConfig['kafka']): KafkaTransport {
  const base: ClientSettings = { clientId: kafka.clientId, bootstrapBrokers: kafka.bootstrapServers };
  return {
    producer: () => new PlatformaticProducer(base),
    consumer: async (options) => PlatformaticConsumer.start(base, options),
    admin: () => new PlatformaticAdmin(base),
  };
}

interface PendingSend {
  records: OutRecord[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

class PlatformaticProducer implements ProducerPort {
  private readonly producer: Producer;
  private readonly queue: PendingSend[] = [];
  private pumping: Promise<void> | undefined;

  constructor(base: ClientSettings) {
    // idempotent: the broker drops a retried batch it already wrote, so client retries never
    // duplicate; it requires acks=all.
    this.producer = new Producer({ ...base, clientId: `${base.clientId}-producer`, idempotent: true, acks: ProduceAcks.ALL, autocreateTopics: false });
  }

  /**
   * One produce request in flight at a time; sends that arrive meanwhile are merged into the next
   * request. With 1.35.0, overlapping send() calls of an idempotent producer lose data: 20
   * concurrent single-message sends to one partition all resolved with the same offset and only one
   * record was written (platformatic/kafka issue #326), and concurrent multi-message sends failed
   * with OUT_OF_ORDER_SEQUENCE_NUMBER. So sends never overlap here (test/integration/
   * kafka-producer.test.ts); merging keeps the throughput of concurrent batches.
   */
  send(records: OutRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      this.pumping ??= this.pump().finally(() => (this.pumping = undefined));
    });
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue.splice(0);
      try {
        // Split by bytes: merged sends (or one big send) must not exceed Kafka's request limit.
        for (const part of splitByBytes(group.flatMap((g) => g.records))) await this.producer.send({ messages: part.map(toMessage) });
        for (const g of group) g.resolve();
      } catch (error) {
        for (const g of group) g.reject(error);
      }
    }
  }

  /** Flushes: waits for every accepted send to be acknowledged (or fail), then disconnects. */
  async close(): Promise<void> {
    while (this.pumping) await this.pumping;
    await this.producer.close();
  }
}

function toMessage(r: OutRecord) {
  return {
    topic: r.topic,
    key: r.key ?? undefined,
    value: r.value,
    // A Map of Buffers: with a plain object the client leaves header keys as strings and every
    // produce request fails (seen with 1.35.0).
    headers: new Map(Object.entries(r.headers ?? {}).map(([k, v]) => [Buffer.from(k), Buffer.isBuffer(v) ? v : Buffer.from(v)])),
  };
}

class PlatformaticConsumer implements ConsumerPort {
  private ended = false;
  private closing = false;
  private failure: Error | undefined;
  /** Callers of nextBatches waiting for data (or an error, the end, an abort). */
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly consumer: Consumer,
    private readonly stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>,
    private readonly maxRecords: number,
  ) {
    const wake = () => this.waiters.splice(0).forEach((resolve) => resolve());
    // One 'readable' listener for the consumer's whole life. Node sets a paused stream's
    // readableFlowing back to null when its last 'readable' listener goes, and the client's fetch
    // loop stops for good when it finds readableFlowing null ("nobody is consuming"): with a
    // listener added per wait, a fetch that came between two waits ended all consumption (seen:
    // records produced after the first batch were never delivered).
    stream.on('readable', wake);
    stream.on('error', (error) => {
      this.failure = error;
      wake();
    });
    stream.on('close', () => {
      this.ended = true;
      wake();
    });
    stream.on('end', () => {
      this.ended = true;
      wake();
    });
  }

  static async start(base: ClientSettings, options: ConsumerOptions): Promise<PlatformaticConsumer> {
    const consumer = new Consumer({
      ...base,
      clientId: `${base.clientId}-${options.groupId}`,
      groupId: options.groupId,
      autocommit: false,
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      // Members learn of a rebalance through heartbeats: a short interval lets a new member get
      // its partitions quickly (scale-out) instead of waiting for the others' next heartbeat.
      heartbeatInterval: Math.min(1_000, Math.floor((options.sessionTimeoutMs ?? 10_000) / 3)),
      maxWaitTime: options.maxWaitMs ?? 500,
    });
    const stream = await consumer.consume({
      topics: options.topics,
      autocommit: false,
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: options.fromBeginning === false ? MessagesStreamFallbackModes.LATEST : MessagesStreamFallbackModes.EARLIEST,
      // A small buffer: what is fetched but not yet handed out is work that a crash discards.
      highWaterMark: options.maxRecords ?? 500,
    });
    return new PlatformaticConsumer(consumer, stream, options.maxRecords ?? 500);
  }

  async nextBatches(signal?: AbortSignal): Promise<PartitionBatch[]> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (signal?.aborted || this.closing) return [];
      // The stream ended without close(): the client gave up on the broker. The runner reconnects.
      if (this.ended) throw new ClassifiedError('Kafka consumer stream ended (broker unreachable?)', 'transient', 'kafka_transient', { dependency: 'kafka' });
      const messages: Array<Message<Buffer, Buffer, Buffer, Buffer>> = [];
      let message: Message<Buffer, Buffer, Buffer, Buffer> | null;
      while (messages.length < this.maxRecords && (message = this.stream.read()) !== null) messages.push(message);
      if (messages.length > 0) return groupByPartition(messages.map(toInRecord));
      await this.waitForData(signal);
    }
  }

  private waitForData(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      this.waiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    // leaderEpoch -1: unknown; the broker then skips fencing by epoch.
    await this.consumer.commit({ offsets: offsets.map((o) => ({ ...o, leaderEpoch: -1 })) });
  }

  assignments(): Array<{ topic: string; partitions: number[] }> {
    return (this.consumer.assignments ?? []).map((a) => ({ topic: a.topic, partitions: [...a.partitions] }));
  }

  async close(): Promise<void> {
    this.closing = true;
    this.ended = true;
    if (!this.stream.closed) await this.stream.close().catch(() => undefined);
    await this.consumer.close(true);
  }
}

function toInRecord(m: Message<Buffer, Buffer, Buffer, Buffer>): InRecord {
  const headers: Record<string, Buffer> = {};
  for (const [k, v] of m.headers) headers[k.toString()] = v ?? Buffer.alloc(0);
  return { topic: m.topic, partition: m.partition, offset: m.offset, key: m.key ?? null, value: m.value ?? null, headers, timestamp: m.timestamp };
}

/** Groups records per partition, keeping each partition's order (the stream delivers it in order). */
export function groupByPartition(records: InRecord[]): PartitionBatch[] {
  const batches = new Map<string, PartitionBatch>();
  for (const r of records) {
    const key = `${r.topic}:${r.partition}`;
    let batch = batches.get(key);
    if (!batch) batches.set(key, (batch = { topic: r.topic, partition: r.partition, records: [] }));
    batch.records.push(r);
  }
  return [...batches.values()];
}

class PlatformaticAdmin implements AdminPort {
  private readonly admin: Admin;
  constructor(base: ClientSettings) {
    this.admin = new Admin({ ...base, clientId: `${base.clientId}-admin` });
  }

  async createTopics(topics: TopicToCreate[]): Promise<string[]> {
    const existing = new Set(await this.listTopics());
    const created: string[] = [];
    for (const t of topics) {
      if (existing.has(t.topic)) continue;
      try {
        await this.admin.createTopics({
          topics: [t.topic],
          partitions: t.partitions,
          replicas: t.replicationFactor ?? -1,
          configs: Object.entries(t.config).map(([name, value]) => ({ name, value })),
        });
        created.push(t.topic);
      } catch (error) {
        // Another process created it between our list and our create: that is the goal anyway.
        if (!/already exists/i.test(describe(error))) throw error;
      }
    }
    return created;
  }

  async listTopics(): Promise<string[]> {
    return this.admin.listTopics();
  }

  async describeTopics(topics: string[]): Promise<TopicDescription[]> {
    const metadata = await this.admin.metadata({ topics, forceUpdate: true });
    return topics.map((topic) => {
      const t = metadata.topics.get(topic);
      if (!t) throw new Error(`topic ${topic} does not exist`);
      return { topic, partitions: t.partitionsCount };
    });
  }

  async topicConfig(topic: string): Promise<Record<string, string>> {
    const [description] = await this.admin.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: topic }] });
    const out: Record<string, string> = {};
    for (const c of description?.configs ?? []) if (c.configSource === ConfigSources.TOPIC_CONFIG && typeof c.value === "string") out[c.name] = c.value;
    return out;
  }

  async deleteTopics(topics: string[]): Promise<void> {
    if (topics.length > 0) await this.admin.deleteTopics({ topics });
  }

  async groupOffsets(groupId: string, topics: string[]): Promise<TopicPartitionOffset[]> {
    const [group] = await this.admin.listConsumerGroupOffsets({ groups: [groupId] });
    const wanted = new Set(topics);
    const out: TopicPartitionOffset[] = [];
    for (const t of group?.topics ?? []) {
      if (!wanted.has(t.name)) continue;
      for (const p of t.partitions) if (p.committedOffset >= 0n) out.push({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset });
    }
    return out;
  }

  private async listOffsets(topic: string, timestamp: bigint): Promise<TopicPartitionOffset[]> {
    const [{ partitions }] = await this.describeTopics([topic]) as [TopicDescription];
    const listed = await this.admin.listOffsets({
      topics: [{ name: topic, partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({ partitionIndex, timestamp })) }],
    });
    return listed.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, offset: p.offset })));
  }

  async endOffsets(topics: string[]): Promise<TopicPartitionOffset[]> {
    return (await Promise.all(topics.map((t) => this.listOffsets(t, LATEST)))).flat();
  }

  async startOffsets(topics: string[]): Promise<TopicPartitionOffset[]> {
    return (await Promise.all(topics.map((t) => this.listOffsets(t, EARLIEST)))).flat();
  }

  async deleteRecords(topic: string, before: Array<{ partition: number; offset: bigint }>): Promise<void> {
    if (before.length > 0) await this.admin.deleteRecords({ topics: [{ name: topic, partitions: before.map((b) => ({ partition: b.partition, offset: b.offset })) }] });
  }

  async offsetsForTimestamp(topic: string, timestamp: number): Promise<TopicPartitionOffset[]> {
    if (!Number.isFinite(timestamp) || timestamp < 0) throw new RangeError(`timestamp must be milliseconds since the epoch, got ${timestamp}`);
    const [atTime, end] = await Promise.all([this.listOffsets(topic, BigInt(Math.floor(timestamp))), this.listOffsets(topic, LATEST)]);
    const endBy = new Map(end.map((e) => [e.partition, e.offset]));
    // The broker answers -1 when no record is that recent: start at the end then.
    return atTime.map((o) => (o.offset < 0n ? { ...o, offset: endBy.get(o.partition) ?? 0n } : o));
  }

  async resetGroupOffsets(groupId: string, topic: string, target: OffsetResetTarget): Promise<TopicPartitionOffset[]> {
    let offsets: TopicPartitionOffset[];
    if ('timestamp' in target) offsets = await this.offsetsForTimestamp(topic, target.timestamp);
    else if ('position' in target) offsets = await this.listOffsets(topic, target.position === 'earliest' ? EARLIEST : LATEST);
    else if ('partitions' in target) {
      const [earliest, latest] = await Promise.all([this.listOffsets(topic, EARLIEST), this.listOffsets(topic, LATEST)]);
      const low = new Map(earliest.map((e) => [e.partition, e.offset]));
      offsets = latest.map((e) => ({ topic, partition: e.partition, offset: clampOffset(target.partitions.get(e.partition) ?? 0n, low.get(e.partition) ?? 0n, e.offset) }));
    } else {
      if (target.offset < 0n) throw new RangeError(`offset must be >= 0, got ${target.offset}`);
      const [earliest, latest] = await Promise.all([this.listOffsets(topic, EARLIEST), this.listOffsets(topic, LATEST)]);
      const low = new Map(earliest.map((e) => [e.partition, e.offset]));
      offsets = latest.map((e) => {
        const floor = low.get(e.partition) ?? 0n;
        const offset = target.offset > e.offset ? e.offset : target.offset < floor ? floor : target.offset;
        return { topic, partition: e.partition, offset };
      });
    }
    await this.admin.alterConsumerGroupOffsets({
      groupId,
      topics: [{ name: topic, partitionOffsets: offsets.map((o) => ({ partition: o.partition, offset: o.offset })) }],
    });
    return offsets;
  }

  async deleteGroups(groupIds: string[]): Promise<void> {
    if (groupIds.length > 0) await this.admin.deleteGroups({ groups: groupIds });
  }

  async close(): Promise<void> {
    await this.admin.close();
  }
}

function clampOffset(offset: bigint, low: bigint, high: bigint): bigint {
  return offset > high ? high : offset < low ? low : offset;
}

function describe(error: unknown): string {
  if (error instanceof AggregateError) return [error.message, ...error.errors.map(describe)].join('; ');
  if (error instanceof Error) return `${error.message}${error.cause ? `; ${describe(error.cause)}` : ''}`;
  return String(error);
}
