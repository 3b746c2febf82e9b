/**
 * The one retry protocol (services/runtime/retry.ts): kinds decide, patience bounds the wait, the
 * board and the metric see every attempt; and what a stage does with each kind (runStage): waits
 * out an outage without crashing, pauses on a refused configuration (nothing committed or
 * dead-lettered) and resumes when it works, reconnects a consumer whose broker went away.
 */
import { describe, expect, it } from 'vitest';
import { ClassifiedError, ConfigurationError } from '../../../services/runtime/errors.ts';
import { DependencyBoard } from '../../../services/runtime/dependencies.ts';
import { healthReport, startOpsServer, withDependencies } from '../../../services/runtime/http.ts';
import { httpFailureKind, retryAttempts, withRetry, type RetryOptions } from '../../../services/runtime/retry.ts';
import { runStage } from '../../../services/runtime/kafka/consumer.ts';
import { ok } from '../../../services/runtime/handler.ts';
import { FakeConsumer, fakeTransport, jsonSerde, record } from '../kafka/fakes.ts';
import { Registry } from 'prom-client';

const fast = { initialMs: 1, maxMs: 2, factor: 2 };
const fail = (code: string) => Object.assign(new Error(`connect ${code}`), { code });
const opts = (board: DependencyBoard, extra: Partial<RetryOptions> = {}): RetryOptions => ({
  site: 'test',
  dependency: 'thing',
  classify: (e) => (e instanceof ClassifiedError ? e.kind : (e as { code?: string }).code === 'ECONNREFUSED' ? 'transient' : undefined),
  backoff: fast,
  board,
  ...extra,
});

async function counted(site: string, outcome: string): Promise<number> {
  const metric = await retryAttempts.get();
  return metric.values.find((v) => v.labels.site === site && v.labels.outcome === outcome)?.value ?? 0;
}

describe('withRetry', () => {
  it('waits out transient failures, reports the dependency waiting meanwhile, and clears it on success', async () => {
    const board = new DependencyBoard();
    const seen: string[] = [];
    let calls = 0;
    const value = await withRetry(opts(board, { site: 'transient_ok' }), async () => {
      seen.push(board.list().map((p) => `${p.dependency}:${p.kind}`).join(','));
      if (++calls < 4) throw fail('ECONNREFUSED');
      return 'answer';
    });
    expect(value).toBe('answer');
    expect(seen).toEqual(['', 'thing:waiting', 'thing:waiting', 'thing:waiting']);
    expect(board.list()).toEqual([]);
    expect(await counted('transient_ok', 'transient')).toBe(3);
    expect(await counted('transient_ok', 'recovered')).toBe(1);
  });

  it('gives up after the patience window with a classified, retriable error naming the dependency', async () => {
    const board = new DependencyBoard();
    let clock = 0;
    const error = await withRetry(opts(board, { site: 'patience', patienceMs: 1000, now: () => clock }), async () => {
      clock += 400;
      throw fail('ECONNREFUSED');
    }).catch((e) => e);
    expect(error).toBeInstanceOf(ClassifiedError);
    expect(error).toMatchObject({ kind: 'transient', retriable: true, dependency: 'thing' });
    expect(await counted('patience', 'gave_up')).toBe(1);
    expect(board.list()).toMatchObject([{ dependency: 'thing', kind: 'waiting' }]);
  });

  it('does not retry configuration or bad input; a configuration refusal stays on the board until a call works', async () => {
    const board = new DependencyBoard();
    let calls = 0;
    const refused = await withRetry(opts(board), async () => {
      calls++;
      throw new ConfigurationError('thing', '401 invalid api key');
    }).catch((e) => e);
    expect([calls, refused.kind]).toEqual([1, 'configuration']);
    expect(board.refusing()).toMatchObject([{ dependency: 'thing', reason: '401 invalid api key' }]);
    const bad = await withRetry(opts(board), async () => {
      throw new ClassifiedError('400 bad schema', 'bad_input', 'bad');
    }).catch((e) => e);
    expect(bad.kind).toBe('bad_input');
    expect(board.refusing()).toEqual([]); // the server answered: it accepts our configuration again
  });

  it('rethrows an unknown error untouched, at once', async () => {
    let calls = 0;
    const bug = new TypeError('bug');
    await expect(withRetry(opts(new DependencyBoard()), async () => { calls++; throw bug; })).rejects.toBe(bug);
    expect(calls).toBe(1);
  });

  it('maps HTTP statuses to kinds the same way for every OpenAI-compatible server', () => {
    expect([401, 403, 404].map(httpFailureKind)).toEqual(['configuration', 'configuration', 'configuration']);
    expect([429, 503].map(httpFailureKind)).toEqual(['overload', 'overload']);
    expect([408, 500, 502, 504].map(httpFailureKind)).toEqual(['transient', 'transient', 'transient', 'transient']);
    expect([400, 413, 422].map(httpFailureKind)).toEqual(['bad_input', 'bad_input', 'bad_input']);
  });
});

describe('health: alive vs ready', () => {
  it('/healthz says waiting (dependency, since) or degraded (reason) with 503; /livez stays 200 until the service dies', async () => {
    const board = new DependencyBoard(() => Date.parse('2026-12-02T10:00:00Z'));
    let alive = true;
    const server = await startOpsServer({ port: 0, registry: new Registry(), health: () => withDependencies(healthReport(alive, null), board) });
    try {
      const get = async (path: string) => {
        const res = await fetch(`${server.url}${path}`);
        return [res.status, await res.json()];
      };
      expect(await get('/healthz')).toEqual([200, { status: 'ok' }]);
      board.failed('kafka', 'transient', 'connect ECONNREFUSED 127.0.0.1:9092');
      expect(await get('/healthz')).toEqual([503, { status: 'waiting', dependency: 'kafka', reason: 'connect ECONNREFUSED 127.0.0.1:9092', since: '2026-12-02T10:00:00.000Z' }]);
      expect((await get('/livez'))[0]).toBe(200);
      board.failed('llm http://m/v1 big', 'configuration', '401 Unauthorized');
      expect(await get('/healthz')).toEqual([503, { status: 'degraded', dependency: 'llm http://m/v1 big', reason: '401 Unauthorized', since: '2026-12-02T10:00:00.000Z' }]);
      board.succeeded('llm http://m/v1 big');
      board.succeeded('kafka');
      expect(await get('/healthz')).toEqual([200, { status: 'ok' }]);
      board.failed('x', 'overload', '429'); // backpressure is normal work, not an outage
      expect((await get('/healthz'))[0]).toBe(200);
      alive = false;
      expect((await get('/livez'))[0]).toBe(503);
    } finally {
      await server.close();
    }
  });
});

type Msg = { id: string; n: number };
const m = (offset: number) => record('in', 0, offset, { id: `m${offset}`, n: offset }, `m${offset}`);
async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function stage(handler: (v: Msg) => Promise<ReturnType<typeof ok<Msg>>>, board: DependencyBoard, transport = fakeTransport(), extra: Record<string, unknown> = {}) {
  return runStage<Msg, Msg>({
    name: 's', inputTopic: 'in', outputTopic: 'out', dlqTopic: 'in.dlq', groupId: 'g', handler, transport, serde: jsonSerde,
    handleSignals: false, lagIntervalMs: 0, backoff: fast, configurationBackoff: { initialMs: 20, maxMs: 50, factor: 2 }, log: () => undefined, board, concurrency: 4, ...extra,
  });
}

describe('runStage and the kinds', () => {
  it('a refused configuration pauses the stage: no new message starts, nothing is committed or dead-lettered; it resumes when fixed', async () => {
    const board = new DependencyBoard();
    const transport = fakeTransport();
    let refusing = true;
    const started: number[] = [];
    const h = await stage(async (v) => {
      started.push(v.n);
      if (refusing) throw new ConfigurationError('llm http://m/v1 big', 'http://m/v1 refuses this configuration: 401 invalid api key');
      return ok(v);
    }, board, transport, { concurrency: 4, maxInFlightBatches: 4 });
    transport.fakeConsumer.deliver([{ topic: 'in', partition: 0, records: [m(0)] }]);
    await until(() => started.length >= 2, 'a retry of the refused message');
    // Free slots, but the stage takes nothing new while the endpoint refuses it.
    transport.fakeConsumer.deliver([{ topic: 'in', partition: 0, records: [m(1), m(2)] }]);
    await new Promise((r) => setTimeout(r, 300));
    expect(new Set(started)).toEqual(new Set([0])); // only the first message, probing
    expect(board.refusing()).toMatchObject([{ dependency: 'llm http://m/v1 big' }]);
    expect(transport.fakeConsumer.commits).toEqual([]);
    expect(transport.fakeProducer.sent.filter((r) => r.topic === 'in.dlq')).toEqual([]);
    expect(h.healthy()).toBe(true);
    refusing = false;
    await until(() => transport.fakeConsumer.commits.at(-1)?.offset === 3n, 'the commits after the fix');
    expect(transport.fakeProducer.sent.filter((r) => r.topic === 'out')).toHaveLength(3);
    expect(board.refusing()).toEqual([]);
    await h.stop();
  });

  it("grip run's 'fail' crashes at once on a refused configuration instead", async () => {
    const board = new DependencyBoard();
    const transport = fakeTransport();
    const h = await stage(async () => Promise.reject(new ConfigurationError('llm x', '401')), board, transport, { onConfigurationError: 'fail' });
    transport.fakeConsumer.deliver([{ topic: 'in', partition: 0, records: [m(0)] }]);
    await expect(h.done).rejects.toThrow('401');
    expect(transport.fakeProducer.sent).toEqual([]);
  });

  it('a service waits out a dependency that stays down past any retry count, then goes on (no crash)', async () => {
    const board = new DependencyBoard();
    const transport = fakeTransport();
    let calls = 0;
    const h = await stage(async (v) => (++calls < 40 ? Promise.reject(fail('ECONNREFUSED')) : ok(v)), board, transport);
    transport.fakeConsumer.deliver([{ topic: 'in', partition: 0, records: [m(0)] }]);
    await until(() => transport.fakeConsumer.commits.length === 1, 'the commit', 10_000);
    expect(h.healthy()).toBe(true);
    await h.stop();
  });

  it('a stop while a message waits on a dependency is graceful: the message is not committed and comes back', async () => {
    const board = new DependencyBoard();
    const transport = fakeTransport();
    const h = await stage(async () => Promise.reject(fail('ECONNREFUSED')), board, transport);
    transport.fakeConsumer.deliver([{ topic: 'in', partition: 0, records: [m(0)] }]);
    await new Promise((r) => setTimeout(r, 100));
    await h.stop();
    await expect(h.done).resolves.toBeUndefined();
    expect(transport.fakeConsumer.commits).toEqual([]);
  });

  it('waits for the broker: sends are retried, and a consumer whose connection failed is made again', async () => {
    const board = new DependencyBoard();
    const first = new FakeConsumer();
    const second = new FakeConsumer();
    const consumers = [first, second];
    const transport = fakeTransport(first);
    let made = 0;
    transport.consumer = async () => {
      made++;
      if (made === 2) throw fail('ECONNREFUSED'); // the broker is still down at the first reconnect
      return consumers.shift() ?? second;
    };
    const h = await stage(async (v) => ok(v), board, transport);
    transport.fakeProducer.failures.push(fail('ECONNREFUSED'), fail('ECONNREFUSED'));
    first.deliver([{ topic: 'in', partition: 0, records: [m(0)] }]);
    await until(() => first.commits.length === 1, 'the commit after the send retries');
    // The connection breaks: the next fetch fails.
    first.nextBatches = async () => {
      throw Object.assign(new Error('Connection closed'), { code: 'PLT_KFK_NETWORK' });
    };
    first.deliver([]);
    await until(() => made >= 3, 'a new consumer');
    expect(first.closed).toBe(true);
    second.deliver([{ topic: 'in', partition: 0, records: [m(1)] }]);
    await until(() => second.commits.length === 1, 'the commit through the new consumer');
    expect(h.healthy()).toBe(true);
    expect(board.list()).toEqual([]);
    await h.stop();
  });
});
