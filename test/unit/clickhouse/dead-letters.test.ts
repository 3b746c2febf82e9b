/**
 * The dead_letters stage never drops a dead letter silently (issue 10): a row ClickHouse refuses is
 * stored again in minimal form (escaped, truncated, base64), and one that even that cannot store is
 * logged with its DLQ topic, partition and offset and counted.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { register } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { storeDeadLetter } from '../../../services/clickhouse-sink/handlers.ts';
import { deadLetterRow, minimalDeadLetterRow, type DeadLetterRow } from '../../../services/clickhouse-sink/rows.ts';
import { ClickHouseWriter } from '../../../services/clickhouse-sink/writer.ts';
import type { InRecord } from '../../../services/runtime/kafka/index.ts';
import type { Logger } from '../../../services/runtime/log.ts';

const settings = { url: 'http://127.0.0.1:1', username: 'default', password: '', database: 'grip' };

/** A ClickHouse whose dead_letters refuses rows the predicate calls bad (as a parse error would). */
function writerRefusing(bad: (row: DeadLetterRow) => boolean) {
  const stored: DeadLetterRow[] = [];
  const client = {
    async insert(params: { values: DeadLetterRow[] }) {
      if (params.values.some(bad)) throw new Error('Code: 27, e.displayText() = DB::Exception: Cannot parse input: (at row 1)\n, e.what() = DB::Exception');
      stored.push(...params.values);
    },
    async close() {},
  } as unknown as ClickHouseClient;
  return { writer: new ClickHouseWriter({ clickhouse: settings, client, maxBatchRows: 1, log: () => {} }), stored };
}

const record: InRecord = {
  topic: 'grip.concepts.dlq', partition: 0, offset: 77n, key: Buffer.from('seed-1\u00e9'), value: Buffer.from('{"x": "caf\u00e9"}'), timestamp: 0n,
  headers: { 'dlq-stage': Buffer.from('concept-graph'), 'dlq-reason': Buffer.from('invalid_concepts'), 'dlq-detail': Buffer.from('KC id "a|b" \u2014 bad'), 'dlq-source-topic': Buffer.from('grip.concepts'), 'dlq-source-partition': Buffer.from('2'), 'dlq-source-offset': Buffer.from('9'), 'dlq-timestamp': Buffer.from('2026-12-02T10:00:00.000Z') },
};
const row = deadLetterRow({ dlqTopic: record.topic, key: record.key, value: record.value, headers: record.headers, timestamp: 0 });
const nonAscii = (r: DeadLetterRow) => /[^\x20-\x7e]/.test(JSON.stringify(r));

function collect() {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const log: Logger = (level, message, fields) => void lines.push({ level, message, fields });
  return { lines, log };
}

describe('storing dead letters', () => {
  it('a dead letter ClickHouse refuses as it is gets stored in minimal form, with the refusal in its detail', async () => {
    const { writer, stored } = writerRefusing(nonAscii);
    const { lines, log } = collect();
    expect(await storeDeadLetter(writer, row, record, log)).toEqual({ kind: 'ok', value: [] });
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ dlq_id: row.dlq_id, stage: 'concept-graph', reason: 'invalid_concepts', source_offset: 9, payload_encoding: 'base64', payload: record.value!.toString('base64') });
    expect(stored[0]!.detail).toMatch(/^\[stored in minimal form; the full row was refused: .*Code: 27.*\] KC id "a\|b" \\u2014 bad$/);
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ dlq_topic: 'grip.concepts.dlq', offset: 77n }) })]);
    await writer.close();
  });

  it('one that even the minimal form cannot store is logged loudly with its position and counted, never dropped silently', async () => {
    const { writer, stored } = writerRefusing(() => true);
    const { lines, log } = collect();
    const before = (await register.getSingleMetric('grip_sink_dead_letters_unstorable_total')?.get())?.values.reduce((a, v) => a + v.value, 0) ?? 0;
    expect(await storeDeadLetter(writer, row, record, log)).toEqual({ kind: 'drop', reason: 'dead_letter_unstorable' });
    expect(stored).toHaveLength(0);
    expect(lines.at(-1)).toMatchObject({ level: 'error', fields: { dlq_topic: 'grip.concepts.dlq', partition: 0, offset: 77n, stage: 'concept-graph', reason: 'invalid_concepts' } });
    const after = (await register.getSingleMetric('grip_sink_dead_letters_unstorable_total')?.get())?.values.reduce((a, v) => a + v.value, 0) ?? 0;
    expect(after - before).toBe(1);
    await writer.close();
  });

  it('the minimal form is plain ASCII and keeps every number in its column range', () => {
    const minimal = minimalDeadLetterRow({ ...row, source_partition: 2 ** 40, source_offset: Number.MAX_VALUE, failed_at: '2300-01-01 00:00:00', version: -5 }, 'refused');
    expect(nonAscii(minimal)).toBe(false);
    expect(minimal).toMatchObject({ source_partition: -1, source_offset: -1, failed_at: '1970-01-01 00:00:00', version: 0, message_key: Buffer.from('seed-1\u00e9').toString('hex') });
  });
});
