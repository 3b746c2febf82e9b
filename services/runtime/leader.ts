/**
 * One active instance of a stage whose state is global (concept-graph's graph, the judge's accepted
 * set): `scaling: 'one'` in its declaration. Every instance joins the consumer group of a
 * one-partition control topic, `grip.leader.<stage>`; the member that holds its partition is the
 * active one, the others wait as standbys (their /healthz says `standby`). When the active one dies,
 * the broker moves the partition after the session timeout and a standby takes over; an instance
 * that loses the partition while alive (a long pause, a network split, a broker restart) stops its
 * stage at once and waits again, as a standby (service.ts). The lease's consumer is made again
 * when its connection to the broker fails, so a broker restart costs a takeover, not the process.
 *
 * Nothing is ever written to the control topic: group membership is the lease, and the broker's
 * group coordinator is the one authority, so two instances are never both told they hold it. (An
 * instance cut off from the broker keeps running until its own session check notices, within
 * about `checkMs` + the session timeout; a write it makes meanwhile is a redelivery the next owner
 * handles again, which deterministic ids make harmless.)
 *
 * Joining or leaving makes the broker rebalance the group, which empties every member's assignment
 * for a moment: the active instance keeps going through such a gap shorter than `graceMs`, and a
 * new holder starts only after holding the lease for longer than `graceMs`, so that an active
 * instance that really lost it has stopped first.
 */
import type { KafkaTransport } from './kafka/index.ts';
import type { Logger } from './log.ts';

export const leaderTopicOf = (stage: string) => `grip.leader.${stage}`;

export interface Lease {
  /** Resolves when this instance holds the lease; rejects if it was released first. */
  acquired: Promise<void>;
  /** Resolves when an instance that held the lease lost it (not by release()). */
  lost: Promise<void>;
  release(): Promise<void>;
}

export async function leaseFor(transport: KafkaTransport, stage: string, log: Logger, opts: { checkMs?: number; graceMs?: number; sessionTimeoutMs?: number } = {}): Promise<Lease> {
  const topic = leaderTopicOf(stage);
  const admin = transport.admin();
  try {
    await admin.createTopics([{ topic, partitions: 1, config: { 'cleanup.policy': 'delete', 'retention.ms': '60000' } }]);
  } finally {
    await admin.close().catch(() => undefined);
  }
  const join = () => transport.consumer({ groupId: topic, topics: [topic], sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000, maxRecords: 1 });
  let consumer = await join();
  const checkMs = opts.checkMs ?? 500;
  // A rebalance (an instance joining or leaving) empties every member's assignment for a moment:
  // the holder gives the lease up only after missing it for `graceMs`, and a new holder becomes
  // active only after holding it for longer than that, so the two never overlap.
  const graceMs = opts.graceMs ?? 5_000;
  let released = false;
  let active = false;
  let heldSince: number | undefined;
  let missingSince: number | undefined;
  let onAcquired!: () => void;
  let onReleased!: (error: Error) => void;
  let onLost!: () => void;
  const acquired = new Promise<void>((resolve, reject) => ((onAcquired = resolve), (onReleased = reject)));
  const lost = new Promise<void>((resolve) => (onLost = resolve));
  acquired.catch(() => undefined);
  const holds = () => consumer.assignments().some((a) => a.topic === topic && a.partitions.includes(0));
  log('info', 'waiting for the lease of the active instance', { lease: topic });
  const timer = setInterval(() => {
    if (released) return;
    const now = Date.now();
    if (holds()) {
      missingSince = undefined;
      heldSince ??= now;
      if (!active && now - heldSince > graceMs) {
        active = true;
        log('info', 'this instance holds the lease: active', { lease: topic });
        onAcquired();
      }
    } else {
      heldSince = undefined;
      missingSince ??= now;
      if (active && now - missingSince >= graceMs) {
        active = false;
        log('error', 'lease lost: another instance is active now; stopping', { lease: topic });
        onLost();
      }
    }
  }, checkMs);
  // The control topic holds no records; reading keeps the client's fetch loop (and so its group
  // membership) going, as it does for every consumer.
  const polling = new AbortController();
  const drain = (async () => {
    let failures = 0;
    while (!polling.signal.aborted) {
      try {
        await consumer.nextBatches(polling.signal);
        failures = 0;
      } catch (error) {
        // The connection failed (a broker restart): a new member once the broker answers again.
        log('warn', 'lease consumer lost the broker; joining again', { lease: topic, error: error instanceof Error ? error.message : String(error) });
        await consumer.close().catch(() => undefined);
        for (;;) {
          await new Promise((r) => setTimeout(r, Math.min(5000, checkMs * 2 ** Math.min(failures++, 4))));
          if (polling.signal.aborted) return;
          try {
            consumer = await join();
            break;
          } catch {
            // still unreachable
          }
        }
      }
    }
  })();
  return {
    acquired,
    lost,
    release: async () => {
      if (released) return;
      released = true;
      clearInterval(timer);
      onReleased(new Error('lease released before it was acquired'));
      polling.abort();
      await consumer.close().catch(() => undefined);
      await drain;
    },
  };
}
