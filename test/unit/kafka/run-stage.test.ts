import { describe, expect, it } from 'vitest';
import { dlq, ok, type HandlerResult } from '../../../services/runtime/handler.ts';
import { runStage, type StageOptions } from '../../../services/runtime/kafka/consumer.ts';
import { NonRetriableError, RetriableError } from '../../../services/runtime/kafka/errors.ts';
import { fakeTransport, jsonSerde, record } from './fakes.ts';

type Msg = { id: string; n: number };

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function until(cond: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function start(handler: StageOptions<Msg, Msg>['handler'], extra: Partial<StageOptions<Msg, Msg>> = {}) {
  const transport = fakeTransport();
  const handle = runStage<Msg, Msg>({
    name: 'double',
    inputTopic: 'in',
    outputTopic: 'out',
    dlqTopic: 'in.dlq',
    groupId: 'g',
    handler,
    transport,
    serde: jsonSerde,
    handleSignals: false,
    lagIntervalMs: 0,
    backoff: { initialMs: 1, maxMs: 2, factor: 2 },
    log: () => undefined,
    ...extra,
  });
  return { transport, consumer: transport.fakeConsumer, producer: transport.fakeProducer, handle };
}

const m = (partition: number, offset: number, n = offset) => record('in', partition, offset, { id: `m${offset}`, n }, `m${offset}`);

describe('runStage (fake transport)', () => {
  it('routes ok / dlq / drop, keys outputs by id and commits highest + 1 after the send', async () => {
    const { consumer, producer, handle } = start(async (v): Promise<HandlerResult<Msg | Msg[]>> => {
      if (v.n === 1) return dlq('too_small', 'n is 1');
      if (v.n === 2) return { kind: 'drop', reason: 'even' };
      return ok([{ id: `${v.id}a`, n: v.n * 2 }, { id: `${v.id}b`, n: v.n * 2 }]);
    });
    const h = await handle;
    expect(h.healthy()).toBe(true);
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0, 0), m(0, 1, 1), m(0, 2, 2), m(0, 3, 3)] }]);
    await until(() => consumer.commits.length === 1, 'the commit');
    expect(consumer.commits).toEqual([{ topic: 'in', partition: 0, offset: 4n }]);
    const out = producer.sent.filter((r) => r.topic === 'out');
    expect(out.map((r) => [r.key!.toString(), JSON.parse(r.value.toString()).n])).toEqual([
      ['m0a', 0], ['m0b', 0], ['m3a', 6], ['m3b', 6],
    ]);
    const dead = producer.sent.filter((r) => r.topic === 'in.dlq');
    expect(dead).toHaveLength(1);
    expect(dead[0]!.value.equals(m(0, 1, 1).value!)).toBe(true);
    expect(dead[0]!.headers).toMatchObject({ 'dlq-reason': 'too_small', 'dlq-stage': 'double', 'dlq-detail': 'n is 1' });
    expect(h.stats()).toMatchObject({ in: 4, out: 4, dlq: 1, dropped: 1 });
    await h.stop();
  });

  it('commits a later batch only once every earlier batch of its partition finished', async () => {
    const gates = new Map([[0, deferred()], [5, deferred()]]);
    const { consumer, handle } = start(async (v) => {
      await gates.get(v.n)?.promise;
      return ok(v);
    });
    const h = await handle;
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0)] }]);
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 1), m(0, 2)] }, { topic: 'in', partition: 1, records: [m(1, 5)] }]);
    // batch 2 of partition 0 finishes while batch 1 waits: nothing of partition 0 may be committed
    await until(() => h.stats().batches === 1, 'the second batch');
    expect(consumer.commits).toEqual([]);
    gates.get(0)!.resolve();
    await until(() => consumer.commits.length === 1, 'partition 0 commit');
    expect(consumer.commits).toEqual([{ topic: 'in', partition: 0, offset: 3n }]);
    gates.get(5)!.resolve();
    await until(() => consumer.commits.length === 2, 'partition 1 commit');
    expect(consumer.commits[1]).toEqual({ topic: 'in', partition: 1, offset: 6n });
    await h.stop();
  });

  it('crashes on an unknown error without committing the failed batch', async () => {
    const { consumer, producer, handle } = start(async (v) => {
      if (v.n === 3) throw new TypeError('bug in handler');
      return ok(v);
    });
    const h = await handle;
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0), m(0, 1)] }]);
    await until(() => consumer.commits.length === 1, 'first commit');
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 2), m(0, 3), m(0, 4)] }]);
    await expect(h.done).rejects.toThrow('bug in handler');
    expect(h.healthy()).toBe(false);
    expect(consumer.commits).toEqual([{ topic: 'in', partition: 0, offset: 2n }]);
    expect(producer.sent.map((r) => r.key!.toString())).toEqual(['m0', 'm1']); // the failed batch produced nothing
    expect(consumer.closed && producer.closed).toBe(true);
  });

  it('retries retriable errors with backoff, then crashes when they do not pass', async () => {
    let calls = 0;
    const flaky = start(async (v) => (++calls < 3 ? Promise.reject(new RetriableError('model server down')) : ok(v)), { maxRetries: 5 });
    const h1 = await flaky.handle;
    flaky.consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0)] }]);
    await until(() => flaky.consumer.commits.length === 1, 'commit after retries');
    expect(calls).toBe(3);
    expect(h1.stats().retries).toBe(2);
    await h1.stop();

    const down = start(async () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), { maxRetries: 2 });
    const h2 = await down.handle;
    down.consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0)] }]);
    await expect(h2.done).rejects.toThrow('ECONNREFUSED');
    expect(h2.stats().retries).toBe(2);
    expect(down.consumer.commits).toEqual([]);
  });

  it('dead-letters undecodable bytes and non-retriable errors with the original bytes, and goes on', async () => {
    const { consumer, producer, handle } = start(async (v) => {
      if (v.n === 1) throw new NonRetriableError('too_large', 'problem text over 1 MB');
      return ok(v);
    });
    const h = await handle;
    const bad = record('in', 0, 2, '\u0000garbage{', 'bad-key');
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0), m(0, 1), bad, m(0, 3)] }]);
    await until(() => consumer.commits.length === 1, 'commit');
    const dead = producer.sent.filter((r) => r.topic === 'in.dlq');
    expect(dead.map((r) => r.headers?.['dlq-reason'])).toEqual(['too_large', 'decode_error']);
    expect(dead[1]!.key!.toString()).toBe('bad-key');
    expect(dead[1]!.value.equals(bad.value!)).toBe(true);
    expect(producer.sent.filter((r) => r.topic === 'out')).toHaveLength(2);
    expect(consumer.commits).toEqual([{ topic: 'in', partition: 0, offset: 4n }]);
    await h.stop();
  });

  it('caps in-flight batches (backpressure)', async () => {
    const gate = deferred();
    let started = 0;
    const { consumer, handle } = start(
      async (v) => {
        started++;
        await gate.promise;
        return ok(v);
      },
      { maxInFlightBatches: 1 },
    );
    const h = await handle;
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0)] }, { topic: 'in', partition: 1, records: [m(1, 1)] }]);
    await until(() => started === 1, 'first handler');
    await new Promise((r) => setTimeout(r, 30));
    expect(started).toBe(1); // the second batch waits for a slot
    gate.resolve();
    await until(() => consumer.commits.length === 2, 'both commits');
    await h.stop();
  });

  it('admits records one by one as ready() allows (record-level backpressure), always at least one', async () => {
    let open = false;
    const gates = [deferred(), deferred(), deferred()];
    let started = 0;
    const { consumer, handle } = start(
      async (v) => {
        started++;
        await gates[v.n]!.promise;
        return ok(v);
      },
      { concurrency: 100, ready: () => open },
    );
    const h = await handle;
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0), m(0, 1), m(0, 2)] }]);
    await until(() => started === 1, 'the first record (nothing in flight: admitted whatever ready says)');
    await new Promise((r) => setTimeout(r, 30));
    expect(started).toBe(1);
    expect(h.stats().in).toBe(1);
    open = true;
    await until(() => started === 3, 'the others, once ready');
    for (const g of gates) g.resolve();
    await until(() => consumer.commits.length === 1, 'the commit');
    expect(consumer.commits).toEqual([{ topic: 'in', partition: 0, offset: 3n }]);
    await h.stop();
  });

  it('a slow message holds neither its neighbours nor later batches; its partition commits only past it', async () => {
    const slow = deferred();
    const { consumer, producer, handle } = start(
      async (v) => {
        if (v.n === 1) await slow.promise;
        return ok(v);
      },
      { concurrency: 4, maxInFlightBatches: 64, ready: () => true },
    );
    const h = await handle;
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0), m(0, 1)] }]);
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 2), m(0, 3)] }]);
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 4), m(0, 5)] }]);
    // the later batches finish and are sent while message 1 still runs; nothing is committed
    await until(() => producer.sent.filter((r) => r.topic === 'out').length === 4, 'the later batches sent');
    expect(consumer.commits).toEqual([]);
    slow.resolve();
    await until(() => consumer.commits.some((c) => c.offset === 6n), 'the commit past everything');
    await h.stop();
  });

  it('stop() drains the in-flight batch, commits it, then disconnects', async () => {
    const gate = deferred();
    const { consumer, producer, handle } = start(async (v) => {
      await gate.promise;
      return ok(v);
    });
    const h = await handle;
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0), m(0, 1)] }]);
    await until(() => h.stats().in === 2, 'batch started');
    const stopping = h.stop();
    await new Promise((r) => setTimeout(r, 20));
    expect(consumer.closed).toBe(false); // still draining
    gate.resolve();
    await stopping;
    expect(consumer.commits).toEqual([{ topic: 'in', partition: 0, offset: 2n }]);
    expect(producer.sent).toHaveLength(2);
    expect(consumer.closed && producer.closed).toBe(true);
    await expect(h.done).resolves.toBeUndefined();
  });

  it('retries a produce that fails on the connection', async () => {
    const { consumer, producer, handle } = start(async (v) => ok(v));
    producer.failures.push(Object.assign(new Error('socket closed'), { code: 'PLT_KFK_NETWORK' }));
    const h = await handle;
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0)] }]);
    await until(() => consumer.commits.length === 1, 'commit');
    expect(producer.sent).toHaveLength(1);
    await h.stop();
  });
});

describe('runStage batch path (batchHandler)', () => {
  it('one call per polled batch; only the records it could not finish go on alone through handler', async () => {
    const batchCalls: number[][] = [];
    const alone: number[] = [];
    let flaky = 0;
    const { consumer, producer, handle } = start(
      async (v) => {
        alone.push(v.n);
        if (v.n === 2 && ++flaky < 2) throw new RetriableError('still down');
        return ok(v);
      },
      {
        batchHandler: async (values) => {
          batchCalls.push(values.map((v) => v.n));
          return values.map((v): HandlerResult<Msg> | Error => {
            if (v.n === 1) return new NonRetriableError('clickhouse_rejected', 'row 1 refused');
            if (v.n === 2) return new RetriableError('ClickHouse unreachable');
            if (v.n === 3) return dlq('unmappable_row', 'no table');
            return ok(v);
          });
        },
      },
    );
    const h = await handle;
    const bad = record('in', 0, 4, '\u0000garbage{', 'bad-key');
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0), m(0, 1), m(0, 2), m(0, 3), bad, m(0, 5)] }]);
    await until(() => consumer.commits.length === 1, 'the commit');
    // the undecodable record never reaches the batch handler; the others in one call
    expect(batchCalls).toEqual([[0, 1, 2, 3, 5]]);
    // the retriable one retried alone through handler (failed once more, then passed); the
    // non-retriable one dead-lettered without calling handler again
    expect(alone).toEqual([2, 2]);
    expect(h.stats()).toMatchObject({ in: 6, out: 3, dlq: 3, retries: 2 });
    const dead = producer.sent.filter((r) => r.topic === 'in.dlq');
    expect(dead.map((r) => r.headers?.['dlq-reason'])).toEqual(['clickhouse_rejected', 'unmappable_row', 'decode_error']);
    expect(producer.sent.filter((r) => r.topic === 'out').map((r) => r.key!.toString())).toEqual(['m0', 'm2', 'm5']);
    expect(consumer.commits).toEqual([{ topic: 'in', partition: 0, offset: 6n }]);
    await h.stop();
  });

  it('a batch call that throws sends every record alone; an unknown error still crashes without committing', async () => {
    let calls = 0;
    const retried = start(async (v) => ok(v), {
      batchHandler: async () => {
        calls++;
        throw new RetriableError('insert failed after its retries');
      },
    });
    const h1 = await retried.handle;
    retried.consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0), m(0, 1)] }]);
    await until(() => retried.consumer.commits.length === 1, 'the commit');
    expect(calls).toBe(1);
    expect(retried.producer.sent.map((r) => r.key!.toString())).toEqual(['m0', 'm1']);
    await h1.stop();

    const broken = start(async (v) => ok(v), { batchHandler: async (values) => values.map(() => new Error('writer closed')) });
    const h2 = await broken.handle;
    broken.consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0)] }]);
    await expect(h2.done).rejects.toThrow('writer closed');
    expect(broken.consumer.commits).toEqual([]);
  });

  it('commits a batch only when its call settled, and later batches of a partition only after it', async () => {
    const gates = [deferred(), deferred()];
    let call = 0;
    const { consumer, handle } = start(async (v) => ok(v), {
      batchHandler: async (values) => {
        await gates[call++]!.promise;
        return values.map((v) => ok(v));
      },
    });
    const h = await handle;
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 0), m(0, 1)] }]);
    consumer.deliver([{ topic: 'in', partition: 0, records: [m(0, 2)] }]);
    await until(() => call === 2, 'both batches admitted while the first waits');
    gates[1]!.resolve();
    await new Promise((r) => setTimeout(r, 20));
    expect(consumer.commits).toEqual([]);
    gates[0]!.resolve();
    await until(() => consumer.commits.length > 0 && consumer.commits.at(-1)!.offset === 3n, 'the commit past both');
    await h.stop();
  });

  it('refuses batchHandler together with ordered', async () => {
    await expect(start(async (v) => ok(v), { batchHandler: async (values) => values.map((v) => ok(v)), ordered: async (p) => ok(p as Msg) }).handle).rejects.toThrow(/cannot be combined/);
  });
});
