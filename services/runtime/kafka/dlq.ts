/** Dead-letter records: the original key and bytes, untouched, plus headers saying why (pure). */
import type { InRecord, OutRecord } from './transport.ts';

export const DLQ_HEADERS = {
  reason: 'dlq-reason',
  stage: 'dlq-stage',
  timestamp: 'dlq-timestamp',
  detail: 'dlq-detail',
  sourceTopic: 'dlq-source-topic',
  sourcePartition: 'dlq-source-partition',
  sourceOffset: 'dlq-source-offset',
} as const;

/**
 * Set by `grip dlq replay` on a letter it sends back: the stage (as in dlq-stage) the letter is
 * for. Every other stage reading that topic skips the record, so a sink's letter sent back to
 * grip.candidates is not judged again, and a judge's letter is not stored by the sink twice.
 */
export const REPLAY_FOR_HEADER = 'grip-replay-for';

/** True when `record` was replayed for a stage other than `stage`. */
export function replayedForAnotherStage(record: InRecord, stage: string): boolean {
  const target = record.headers[REPLAY_FOR_HEADER];
  return target !== undefined && target.toString('utf8') !== stage;
}

/** Header values are bounded so that a huge error message cannot make the DLQ record too large. */
const MAX_DETAIL_BYTES = 4096;

export interface DlqInfo {
  stage: string;
  reason: string;
  detail: string;
  /** Milliseconds since the epoch. */
  now: number;
}

/**
 * The id of a dead letter: the stage that refused the record and the record's position. The stage
 * is part of it because several stages read the same topic (concept-graph and the sink both read
 * grip.concepts): without it, one stage's reason for an offset would overwrite the other's.
 */
export function deadLetterId(stage: string, sourceTopic: string, partition: number, offset: number): string {
  return `dlq-${stage}-${sourceTopic}-${partition}-${offset}`;
}

export function dlqRecord(dlqTopic: string, original: InRecord, info: DlqInfo): OutRecord {
  return {
    topic: dlqTopic,
    key: original.key,
    // A record with a null value (a tombstone) is kept as an empty value: DLQ records always have bytes.
    value: original.value ?? Buffer.alloc(0),
    headers: {
      // the original headers travel too, so a replay can restore the message exactly
      ...original.headers,
      [DLQ_HEADERS.reason]: info.reason,
      [DLQ_HEADERS.stage]: info.stage,
      [DLQ_HEADERS.timestamp]: new Date(info.now).toISOString(),
      [DLQ_HEADERS.detail]: truncateUtf8(info.detail, MAX_DETAIL_BYTES),
      [DLQ_HEADERS.sourceTopic]: original.topic,
      [DLQ_HEADERS.sourcePartition]: String(original.partition),
      [DLQ_HEADERS.sourceOffset]: String(original.offset),
    },
  };
}

export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  // cut on a character boundary: drop a trailing partial sequence
  let end = maxBytes - 3;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return `${bytes.subarray(0, end).toString('utf8')}...`;
}
