import { describe, expect, it } from 'vitest';
import { LlmError } from '../../../services/runtime/llm.ts';
import { classifyError, DecodeError, dlqReasonOf, NonRetriableError, RetriableError } from '../../../services/runtime/kafka/errors.ts';
import { DLQ_HEADERS, dlqRecord, truncateUtf8 } from '../../../services/runtime/kafka/dlq.ts';
import { computeLag } from '../../../services/runtime/kafka/transport.ts';
import { groupByPartition } from '../../../services/runtime/kafka/platformatic.ts';
import { topicsToCreate } from '../../../services/runtime/kafka/topics.ts';
import { loadTopics } from '../../../schemas/catalog.ts';
import { record } from './fakes.ts';

describe('classifyError', () => {
  it('retries LLM servers that are down and connection errors, even wrapped', () => {
    expect(classifyError(new LlmError('unavailable', 'extract', 'down', 3))).toBe('retriable');
    expect(classifyError(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))).toBe('retriable');
    expect(classifyError(new Error('outer', { cause: Object.assign(new Error('inner'), { code: 'PLT_KFK_NETWORK' }) }))).toBe('retriable');
    expect(classifyError(new RetriableError('registry down'))).toBe('retriable');
  });

  it('dead-letters bad input and models that keep answering badly', () => {
    expect(classifyError(new LlmError('invalid_answer', 'extract', 'bad json', 3))).toBe('non_retriable');
    expect(classifyError(new DecodeError('bad bytes'))).toBe('non_retriable');
    expect(dlqReasonOf(new DecodeError('bad bytes'))).toBe('decode_error');
    expect(dlqReasonOf(new LlmError('bad_request', 'judge_1', 'x', 1))).toBe('llm_bad_request');
    expect(dlqReasonOf(new NonRetriableError('too_large', 'x'))).toBe('too_large');
  });

  it('calls anything else unknown (the stage crashes)', () => {
    expect(classifyError(new TypeError('undefined is not a function'))).toBe('unknown');
    expect(classifyError('a string')).toBe('unknown');
    expect(classifyError(Object.assign(new Error('x'), { code: 'EACCES' }))).toBe('unknown');
  });
});

describe('dlqRecord', () => {
  it('keeps the original key, bytes and headers and adds reason, stage, time, detail, source', () => {
    const original = { ...record('grip.seeds', 2, 41, '\xff not json', 'seed-1'), headers: { trace: Buffer.from('t1') } };
    const out = dlqRecord('grip.seeds.dlq', original, { stage: 'concepts', reason: 'decode_error', detail: 'bad', now: Date.UTC(2026, 0, 2) });
    expect(out.topic).toBe('grip.seeds.dlq');
    expect(out.key).toBe(original.key);
    expect(out.value.equals(original.value!)).toBe(true);
    expect(out.headers).toMatchObject({
      trace: Buffer.from('t1'),
      [DLQ_HEADERS.reason]: 'decode_error',
      [DLQ_HEADERS.stage]: 'concepts',
      [DLQ_HEADERS.timestamp]: '2026-01-02T00:00:00.000Z',
      [DLQ_HEADERS.detail]: 'bad',
      [DLQ_HEADERS.sourceTopic]: 'grip.seeds',
      [DLQ_HEADERS.sourcePartition]: '2',
      [DLQ_HEADERS.sourceOffset]: '41',
    });
  });

  it('bounds the detail header on a character boundary', () => {
    const long = 'é'.repeat(5000);
    const cut = truncateUtf8(long, 4096);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(4096);
    expect(cut.endsWith('é...')).toBe(true);
    expect(truncateUtf8('short', 4096)).toBe('short');
  });
});

describe('helpers', () => {
  it('computes lag as end minus committed, counting never-committed partitions from 0', () => {
    const end = [0, 1, 2].map((partition) => ({ topic: 't', partition, offset: 10n }));
    const lag = computeLag(end, [{ topic: 't', partition: 0, offset: 10n }, { topic: 't', partition: 1, offset: 4n }]);
    expect(lag.total).toBe(16n);
    expect(lag.byPartition.map((p) => p.offset)).toEqual([0n, 6n, 10n]);
  });

  it('groups records per partition in order', () => {
    const batches = groupByPartition([record('t', 1, 5, 'a'), record('t', 0, 3, 'b'), record('t', 1, 6, 'c')]);
    expect(batches.map((b) => [b.partition, b.records.map((r) => Number(r.offset))])).toEqual([
      [1, [5, 6]],
      [0, [3]],
    ]);
  });

  it('creates every catalog topic and its DLQ with the declared partitions and settings', () => {
    const requests = topicsToCreate();
    const specs = [...loadTopics().values()];
    expect(requests).toHaveLength(specs.length * 2);
    for (const spec of specs) {
      expect(requests).toContainEqual({ topic: spec.topic, partitions: spec.partitions, config: spec.config, replicationFactor: -1 });
      expect(requests).toContainEqual({ topic: spec.dlq, partitions: spec.partitions, config: spec.dlqConfig, replicationFactor: -1 });
    }
    expect(requests.find((r) => r.topic === 'grip.seeds')?.config['cleanup.policy']).toBe('compact');
  });
});
