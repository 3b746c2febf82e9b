/**
 * The in-process transport: the KafkaTransport interface over memory, so that `grip run` runs the
 * very stage declarations the Kafka services run (services/stages.ts), through the same runStage
 * (ordering per partition, commit after side effects, DLQ with original bytes and headers), on one
 * machine without a broker. Nothing is persisted: a resumed `grip run` replays its model answers
 * from the answer cache instead.
 *
 * What it keeps of Kafka's contract: records are appended per partition with increasing offsets;
 * the partition comes from the key (the same for the same key); a group's committed offsets are
 * where its next member starts; a consumer sees its partitions in offset order. What it leaves out:
 * replication, retention, several members of one group (the first member of a group owns every
 * partition; `grip run` starts one instance per stage).
 */
import { createHash } from 'node:crypto';
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

interface Topic {
  config: Record<string, string>;
  /** Each partition's log; a record's offset is its index. */
  partitions: InRecord[][];
  /** Per partition, the first offset still held (records before it were deleted). */
  starts: number[];
}

export interface InProcessOptions {
  /**
   * Partitions of every topic, whatever the catalog declares. 1 (the default) gives every topic a
   * total order, which makes a run reproducible: order-sensitive steps see their input in the order
   * it was produced.
   */
  partitions?: number;
  now?: () => number;
}

export class InProcessTransport implements KafkaTransport {
  private readonly topics = new Map<string, Topic>();
  private readonly committed = new Map<string, Map<string, bigint>>();
  private readonly members = new Map<string, InProcessConsumer>();
  private readonly waiters = new Set<() => void>();
  private readonly partitionsPerTopic: number;
  private readonly now: () => number;

  constructor(options: InProcessOptions = {}) {
    this.partitionsPerTopic = options.partitions ?? 1;
    this.now = options.now ?? Date.now;
  }

  producer(): ProducerPort {
    let closed = false;
    return {
      send: async (records: OutRecord[]) => {
        if (closed) throw new Error('in-process producer: closed');
        for (const r of records) this.append(r);
        this.wake();
      },
      close: async () => {
        closed = true;
      },
    };
  }

  async consumer(options: ConsumerOptions): Promise<ConsumerPort> {
    for (const t of options.topics) this.topic(t);
    const member = new InProcessConsumer(this, options);
    if (!this.members.has(options.groupId)) this.members.set(options.groupId, member);
    return member;
  }

  admin(): AdminPort {
    return new InProcessAdmin(this);
  }

  /** Every record of a topic, partition by partition, in offset order (for `grip run`'s outputs). */
  records(topic: string): InRecord[] {
    const t = this.topics.get(topic);
    return t ? t.partitions.flatMap((log, p) => log.slice(t.starts[p])) : [];
  }

  // ---- internals shared with the consumer and admin ----------------------------------------

  topic(name: string): Topic {
    const t = this.topics.get(name);
    if (!t) throw new Error(`in-process transport: unknown topic "${name}" (create it first)`);
    return t;
  }

  create(spec: TopicToCreate): boolean {
    if (this.topics.has(spec.topic)) return false;
    this.topics.set(spec.topic, { config: { ...spec.config }, partitions: Array.from({ length: this.partitionsPerTopic }, () => []), starts: Array.from({ length: this.partitionsPerTopic }, () => 0) });
    return true;
  }

  hasTopic(name: string): boolean {
    return this.topics.has(name);
  }

  dropTopic(name: string): void {
    this.topics.delete(name);
  }

  topicNames(): string[] {
    return [...this.topics.keys()];
  }

  groupCommits(groupId: string): Map<string, bigint> {
    let m = this.committed.get(groupId);
    if (!m) this.committed.set(groupId, (m = new Map()));
    return m;
  }

  dropGroup(groupId: string): void {
    this.committed.delete(groupId);
  }

  isOwner(member: InProcessConsumer, groupId: string): boolean {
    return this.members.get(groupId) === member;
  }

  leave(member: InProcessConsumer, groupId: string): void {
    if (this.members.get(groupId) === member) this.members.delete(groupId);
  }

  hasMembers(groupId: string): boolean {
    return this.members.has(groupId);
  }

  waitForRecords(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private append(r: OutRecord): void {
    const topic = this.topic(r.topic);
    const partition = partitionOf(r.key, topic.partitions.length);
    const log = topic.partitions[partition]!;
    const headers = Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8')]));
    log.push({ topic: r.topic, partition, offset: BigInt(log.length), key: r.key, value: r.value, headers, timestamp: BigInt(this.now()) });
  }
}

/** A stable partition per key (a keyless record goes to partition 0). */
function partitionOf(key: Buffer | null, partitions: number): number {
  if (!key || partitions <= 1) return 0;
  return createHash('sha1').update(key).digest().readUInt32BE(0) % partitions;
}

class InProcessConsumer implements ConsumerPort {
  /** Next offset to hand out, per `topic:partition`. */
  private readonly positions = new Map<string, bigint>();
  private closed = false;

  constructor(
    private readonly broker: InProcessTransport,
    private readonly options: ConsumerOptions,
  ) {}

  private position(topic: string, partition: number): bigint {
    const key = `${topic}:${partition}`;
    let p = this.positions.get(key);
    if (p === undefined) {
      const committed = this.broker.groupCommits(this.options.groupId).get(key);
      const log = this.broker.topic(topic).partitions[partition]!;
      p = committed ?? (this.options.fromBeginning === false ? BigInt(log.length) : 0n);
      this.positions.set(key, p);
    }
    return p;
  }

  async nextBatches(signal?: AbortSignal): Promise<PartitionBatch[]> {
    const max = this.options.maxRecords ?? 500;
    for (;;) {
      if (this.closed || signal?.aborted) return [];
      const batches: PartitionBatch[] = [];
      if (this.broker.isOwner(this, this.options.groupId)) {
        let budget = max;
        for (const topic of this.options.topics) {
          this.broker.topic(topic).partitions.forEach((log, partition) => {
            if (budget <= 0) return;
            const start = BigInt(this.broker.topic(topic).starts[partition]!);
            const at = this.position(topic, partition);
            const from = at < start ? start : at;
            if (from >= BigInt(log.length)) return;
            const records = log.slice(Number(from), Number(from) + budget);
            budget -= records.length;
            this.positions.set(`${topic}:${partition}`, from + BigInt(records.length));
            batches.push({ topic, partition, records });
          });
        }
      }
      if (batches.length > 0) return batches;
      await this.broker.waitForRecords(signal);
    }
  }

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    const commits = this.broker.groupCommits(this.options.groupId);
    for (const o of offsets) commits.set(`${o.topic}:${o.partition}`, o.offset);
  }

  assignments(): Array<{ topic: string; partitions: number[] }> {
    if (!this.broker.isOwner(this, this.options.groupId)) return [];
    return this.options.topics.map((topic) => ({ topic, partitions: this.broker.topic(topic).partitions.map((_, i) => i) }));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.broker.leave(this, this.options.groupId);
    this.broker.wake();
  }
}

class InProcessAdmin implements AdminPort {
  constructor(private readonly broker: InProcessTransport) {}

  async createTopics(topics: TopicToCreate[]): Promise<string[]> {
    return topics.filter((t) => this.broker.create(t)).map((t) => t.topic);
  }

  async listTopics(): Promise<string[]> {
    return this.broker.topicNames();
  }

  async describeTopics(topics: string[]): Promise<TopicDescription[]> {
    return topics.map((topic) => ({ topic, partitions: this.broker.topic(topic).partitions.length }));
  }

  async topicConfig(topic: string): Promise<Record<string, string>> {
    return { ...this.broker.topic(topic).config };
  }

  async deleteTopics(topics: string[]): Promise<void> {
    for (const t of topics) this.broker.dropTopic(t);
  }

  async groupOffsets(groupId: string, topics: string[]): Promise<TopicPartitionOffset[]> {
    const out: TopicPartitionOffset[] = [];
    for (const [key, offset] of this.broker.groupCommits(groupId)) {
      const [topic, partition] = splitKey(key);
      if (topics.includes(topic)) out.push({ topic, partition, offset });
    }
    return out;
  }

  async endOffsets(topics: string[]): Promise<TopicPartitionOffset[]> {
    return topics.flatMap((topic) => this.broker.topic(topic).partitions.map((log, partition) => ({ topic, partition, offset: BigInt(log.length) })));
  }

  async startOffsets(topics: string[]): Promise<TopicPartitionOffset[]> {
    return topics.flatMap((topic) => this.broker.topic(topic).starts.map((start, partition) => ({ topic, partition, offset: BigInt(start) })));
  }

  async deleteRecords(topic: string, before: Array<{ partition: number; offset: bigint }>): Promise<void> {
    const t = this.broker.topic(topic);
    for (const { partition, offset } of before) {
      const end = t.partitions[partition]!.length;
      t.starts[partition] = Math.max(t.starts[partition]!, Math.min(Number(offset), end));
    }
  }

  async offsetsForTimestamp(topic: string, timestamp: number): Promise<TopicPartitionOffset[]> {
    return this.broker.topic(topic).partitions.map((log, partition) => {
      const at = log.findIndex((r) => r.timestamp >= BigInt(timestamp));
      return { topic, partition, offset: BigInt(at === -1 ? log.length : at) };
    });
  }

  async resetGroupOffsets(groupId: string, topic: string, target: OffsetResetTarget): Promise<TopicPartitionOffset[]> {
    if (this.broker.hasMembers(groupId)) throw new Error(`group ${groupId} has an active member`);
    const ends = await this.endOffsets([topic]);
    const byTime = 'timestamp' in target ? await this.offsetsForTimestamp(topic, target.timestamp) : undefined;
    const commits = this.broker.groupCommits(groupId);
    return ends.map((end, i) => {
      let offset: bigint;
      if ('offset' in target) offset = target.offset < end.offset ? target.offset : end.offset;
      else if ('partitions' in target) {
        const wanted = target.partitions.get(end.partition) ?? 0n;
        offset = wanted < end.offset ? wanted : end.offset;
      }
      else if (byTime) offset = byTime[i]!.offset;
      else if ('position' in target) offset = target.position === 'earliest' ? 0n : end.offset;
      else offset = end.offset;
      commits.set(`${topic}:${end.partition}`, offset);
      return { topic, partition: end.partition, offset };
    });
  }

  async deleteGroups(groupIds: string[]): Promise<void> {
    for (const g of groupIds) this.broker.dropGroup(g);
  }

  async close(): Promise<void> {}
}

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf(':');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}
