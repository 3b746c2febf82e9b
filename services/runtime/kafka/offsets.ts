/**
 * Offset bookkeeping of the consumer wrapper (pure). Batches of one partition may finish out of
 * order (they run concurrently); a partition's offset may only move past a batch when that batch
 * AND every earlier batch of the partition have finished, else a crash would skip unfinished work.
 */
import type { TopicPartitionOffset } from './transport.ts';

export interface BatchTicket {
  readonly topic: string;
  readonly partition: number;
  /** Highest offset in the batch. */
  readonly lastOffset: bigint;
  done: boolean;
}

export class OffsetTracker {
  /** Per partition, its batches in the order they were started. */
  private readonly queues = new Map<string, BatchTicket[]>();

  /** Registers a batch, in delivery order, before any of it runs. */
  begin(topic: string, partition: number, lastOffset: bigint): BatchTicket {
    const key = `${topic}:${partition}`;
    let queue = this.queues.get(key);
    if (!queue) this.queues.set(key, (queue = []));
    const ticket: BatchTicket = { topic, partition, lastOffset, done: false };
    queue.push(ticket);
    return ticket;
  }

  /**
   * Marks a batch finished. Returns the offset to commit for its partition (highest contiguous
   * finished offset + 1) when it moved, undefined when an earlier batch still runs.
   */
  finish(ticket: BatchTicket): TopicPartitionOffset | undefined {
    const key = `${ticket.topic}:${ticket.partition}`;
    const queue = this.queues.get(key);
    if (!queue || !queue.includes(ticket)) throw new Error(`unknown batch of ${key} ending at ${ticket.lastOffset}`);
    ticket.done = true;
    let committable: bigint | undefined;
    // Delivery order, not offset order, decides: after a rebalance the client may deliver a range
    // again (lower offsets) or jump ahead to what another member committed. Every batch of the
    // finished prefix is done, so its highest offset is safe to commit.
    while (queue.length > 0 && queue[0]!.done) {
      const next = queue.shift()!.lastOffset + 1n;
      if (committable === undefined || next > committable) committable = next;
    }
    if (queue.length === 0) this.queues.delete(key);
    return committable === undefined ? undefined : { topic: ticket.topic, partition: ticket.partition, offset: committable };
  }

  /** Batches started and not yet finished. */
  get pending(): number {
    let n = 0;
    for (const queue of this.queues.values()) n += queue.filter((t) => !t.done).length;
    return n;
  }
}
