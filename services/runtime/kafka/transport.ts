/**
 * The Kafka transport: the only surface the rest of the project sees of a Kafka client. Keeping it
 * this small means the client (today @platformatic/kafka, see platformatic.ts) can be swapped in
 * one file, and the consumer wrapper can be unit-tested with an in-memory fake.
 * Values, keys and headers are plain bytes here; Avro lives in serde.ts.
 */

/** A record to produce. The partition is chosen by the client from the key (murmur2, as Java does). */
export interface OutRecord {
  topic: string;
  key: Buffer | null;
  value: Buffer;
  headers?: Record<string, string | Buffer>;
}

/** A consumed record, exactly as it is in the log (the bytes are never re-encoded). */
export interface InRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  /** Milliseconds since the epoch. */
  timestamp: bigint;
}

/** Consecutive records of one partition, offsets ascending. */
export interface PartitionBatch {
  topic: string;
  partition: number;
  records: InRecord[];
}

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset: bigint;
}

export interface ProducerPort {
  /** Sends and waits until every record is acknowledged by all in-sync replicas (acks=all, idempotent). */
  send(records: OutRecord[]): Promise<void>;
  close(): Promise<void>;
}

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  /** Where a group without a committed offset starts. Default earliest: no seed is ever skipped. */
  fromBeginning?: boolean;
  /** Cap on records returned by one nextBatches() call. */
  maxRecords?: number;
  sessionTimeoutMs?: number;
  /** How long one fetch waits for data on the broker. */
  maxWaitMs?: number;
}

export interface ConsumerPort {
  /**
   * The next records already fetched, grouped per partition (each partition at most once, offsets
   * ascending). Waits until there is at least one record; resolves to [] when `signal` aborts or the
   * consumer is closed. Not calling it is the backpressure: the client stops fetching when its
   * buffer is full.
   */
  nextBatches(signal?: AbortSignal): Promise<PartitionBatch[]>;
  /** Commits explicit offsets: `offset` is the NEXT offset to read (highest processed + 1). */
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  /** Partitions the group currently assigns to this member (empty before the first join). */
  assignments(): Array<{ topic: string; partitions: number[] }>;
  /** Leaves the group and disconnects. Uncommitted work is redelivered to the next member. */
  close(): Promise<void>;
}

export interface TopicToCreate {
  topic: string;
  partitions: number;
  config: Record<string, string>;
  /** -1: the broker's default.replication.factor. */
  replicationFactor?: number;
}

export interface TopicDescription {
  topic: string;
  partitions: number;
}

/** One offset for every partition, a time, a position, or an offset per partition (a checkpoint's; partitions not named: earliest). */
export type OffsetResetTarget = { offset: bigint } | { timestamp: number } | { position: 'earliest' | 'latest' } | { partitions: ReadonlyMap<number, bigint> };

export interface AdminPort {
  /** Creates the topics that do not exist yet; returns the names it created. */
  createTopics(topics: TopicToCreate[]): Promise<string[]>;
  listTopics(): Promise<string[]>;
  describeTopics(topics: string[]): Promise<TopicDescription[]>;
  /** Topic configuration entries that are set on the topic itself (not broker defaults). */
  topicConfig(topic: string): Promise<Record<string, string>>;
  deleteTopics(topics: string[]): Promise<void>;
  /** Committed offsets of a group; partitions without a commit are absent. */
  groupOffsets(groupId: string, topics: string[]): Promise<TopicPartitionOffset[]>;
  /** Log end offsets (the offset the next produced record will get). */
  endOffsets(topics: string[]): Promise<TopicPartitionOffset[]>;
  /** Log start offsets (the first offset still held: later than 0 once records expired or were deleted). */
  startOffsets(topics: string[]): Promise<TopicPartitionOffset[]>;
  /** Deletes every record before `offset` in each partition given (Kafka's DeleteRecords: what retention does, now). */
  deleteRecords(topic: string, before: Array<{ partition: number; offset: bigint }>): Promise<void>;
  /** For each partition, the first offset whose timestamp is >= `timestamp` (ms), or the end offset. */
  offsetsForTimestamp(topic: string, timestamp: number): Promise<TopicPartitionOffset[]>;
  /**
   * Moves a group's committed offsets on every partition of `topic` (the group must have no active
   * member): to an offset (clamped to each partition's end), a time, or the earliest/latest offset.
   * Returns the offsets it set. Used by `grip replay --from-offset N | --from-time T`.
   */
  resetGroupOffsets(groupId: string, topic: string, target: OffsetResetTarget): Promise<TopicPartitionOffset[]>;
  deleteGroups(groupIds: string[]): Promise<void>;
  close(): Promise<void>;
}

export interface KafkaTransport {
  producer(): ProducerPort;
  consumer(options: ConsumerOptions): Promise<ConsumerPort>;
  admin(): AdminPort;
}

/**
 * Bytes per produce request. Kafka refuses a record batch over the broker's message.max.bytes
 * (1 MiB by default) and the client a request over max.request.size (1 MiB): records are sent in
 * requests of at most this many bytes (a single larger record still goes alone, and fails loudly).
 */
export const MAX_PRODUCE_BYTES = 768 * 1024;
/** Per-record framing in a v2 record batch, counted generously. */
const RECORD_OVERHEAD_BYTES = 64;

export function recordBytes(r: OutRecord): number {
  let n = RECORD_OVERHEAD_BYTES + r.value.length + (r.key?.length ?? 0);
  for (const [k, v] of Object.entries(r.headers ?? {})) n += Buffer.byteLength(k) + (Buffer.isBuffer(v) ? v.length : Buffer.byteLength(v));
  return n;
}

/** Splits records, in order, into groups of at most `maxBytes` each (a record larger than that is a group of its own). */
export function splitByBytes(records: OutRecord[], maxBytes = MAX_PRODUCE_BYTES): OutRecord[][] {
  const out: OutRecord[][] = [];
  let group: OutRecord[] = [];
  let size = 0;
  for (const r of records) {
    const n = recordBytes(r);
    if (group.length > 0 && size + n > maxBytes) {
      out.push(group);
      group = [];
      size = 0;
    }
    group.push(r);
    size += n;
  }
  if (group.length > 0) out.push(group);
  return out;
}

/** Sum of (end offset - committed offset) per partition; a partition never committed counts from 0. */
export function computeLag(end: TopicPartitionOffset[], committed: TopicPartitionOffset[]): { total: bigint; byPartition: TopicPartitionOffset[] } {
  const committedBy = new Map(committed.map((c) => [`${c.topic}:${c.partition}`, c.offset]));
  let total = 0n;
  const byPartition = end.map((e) => {
    const done = committedBy.get(`${e.topic}:${e.partition}`);
    const lag = e.offset - (done !== undefined && done >= 0n ? done : 0n);
    const clamped = lag > 0n ? lag : 0n;
    total += clamped;
    return { topic: e.topic, partition: e.partition, offset: clamped };
  });
  return { total, byPartition };
}
