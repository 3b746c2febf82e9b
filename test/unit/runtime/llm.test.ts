import { afterEach, describe, expect, it } from 'vitest';
import { register } from 'prom-client';
import { LlmClient, LlmError, MemoryLlmCache, type JsonPrompt } from '../../../services/runtime/llm.ts';
import { endpointLabel, LimiterRegistry, processLimiters } from '../../../services/runtime/limiters.ts';
import { startFakeOpenAI, type FakeOpenAI } from '../../fixtures/openai-server.ts';

interface Answer { concepts: string[] }
const prompt: JsonPrompt<{ text: string }, Answer> = {
  name: 'test-prompt',
  version: 'v1',
  schema: { type: 'object', properties: { concepts: { type: 'array', items: { type: 'string' } } }, required: ['concepts'] },
  render: ({ text }) => [{ role: 'user', content: `List concepts in: ${text}` }],
  parse: (raw) => {
    const r = raw as Answer;
    if (!r || !Array.isArray(r.concepts) || r.concepts.length === 0) throw new Error('concepts: expected a non-empty array');
    return r;
  },
};

let server: FakeOpenAI | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const fastRetry = { backoff: { initialMs: 5, maxMs: 20, factor: 2 }, cooldownMs: 50 };
function client(extra: Partial<ConstructorParameters<typeof LlmClient>[0]> = {}) {
  return new LlmClient({ endpoints: { extract: { baseUrl: server!.baseUrl, model: 'm', apiKey: 'k' } }, ...fastRetry, ...extra });
}

describe('LlmClient', () => {
  it('sends the JSON schema, parses the answer and serves a repeat from the cache', async () => {
    server = await startFakeOpenAI({ reply: () => ({ content: '{"concepts":["chain rule"]}' }) });
    const llm = client();
    const first = await llm.json('extract', prompt, { text: 'a' });
    expect(first.value.concepts).toEqual(['chain rule']);
    expect(first.cached).toBe(false);
    expect(server.requests[0].body.response_format.json_schema.schema).toEqual(prompt.schema);
    const again = await llm.json('extract', prompt, { text: 'a' });
    expect(again.cached).toBe(true);
    expect(again.id).toBe(first.id);
    expect(server.requests).toHaveLength(1);
    expect(llm.usageByStage().extract).toMatchObject({ calls: 2, cached: 1, requests: 1, promptTokens: 10, completionTokens: 5, tokens: 30 });
    await llm.json('extract', prompt, { text: 'b' });
    expect(server.requests).toHaveLength(2);
  });

  it('the same call made twice at once sends one request; both get its answer', async () => {
    server = await startFakeOpenAI({ latencyMs: 50, reply: (_b, i) => ({ content: `{"concepts":["answer ${i}"]}` }) });
    const llm = client();
    const [a, b] = await Promise.all([llm.json('extract', prompt, { text: 'same' }), llm.json('extract', prompt, { text: 'same' })]);
    expect(server.requests).toHaveLength(1);
    expect(a.value).toEqual(b.value);
    expect([a.cached, b.cached].sort()).toEqual([false, true]);
    expect(llm.usageByStage().extract).toMatchObject({ calls: 2, cached: 1, requests: 1 });
    await llm.json('extract', prompt, { text: 'other' });
    expect(server.requests).toHaveLength(2);
  });

  it('an answer the server could not close within the token cap (llama.cpp 500) is asked again shorter, not retried as an outage', async () => {
    const cutOff = { status: 500, error: 'The model produced output that does not match the expected peg-native format' };
    server = await startFakeOpenAI({ reply: (_b, i) => (i === 0 ? cutOff : { content: '{"concepts":["short"]}' }) });
    const result = await client().json('extract', prompt, { text: 'long' });
    expect(result.value.concepts).toEqual(['short']);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1].body.messages.at(-1).content).toMatch(/cut off at the length limit/);
    // Always cut off: a bounded number of asks, then a non-retriable invalid answer (DLQ), never an endless retry.
    server.close();
    server = await startFakeOpenAI({ reply: () => cutOff });
    const failed = await client().json('extract', prompt, { text: 'longer' }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(LlmError);
    expect(failed).toMatchObject({ failure: 'invalid_answer', retriable: false });
    expect(server.requests).toHaveLength(3);
  });

  it('an answer cut at the token cap (finish_reason length) is asked again shorter, without the broken text', async () => {
    server = await startFakeOpenAI({ reply: (_b, i) => (i === 0 ? { content: '{"concepts":["a very long conc', finishReason: 'length' } : { content: '{"concepts":["short"]}' }) });
    const result = await client().json('extract', prompt, { text: 'long' });
    expect(result.value.concepts).toEqual(['short']);
    expect(server.requests).toHaveLength(2);
    const asked = server.requests[1].body.messages;
    expect(asked.at(-1).content).toMatch(/cut off at the length limit/);
    expect(asked.some((m: { content: string }) => m.content.includes('a very long conc'))).toBe(false);
  });

  it('re-asks after an invalid answer, telling the model what was wrong, then gives up with invalid_answer', async () => {
    server = await startFakeOpenAI({ reply: (_b, i) => ({ content: i === 0 ? 'not json' : '{"concepts":["x"]}' }) });
    const ok = await client().json('extract', prompt, { text: 'a' });
    expect(ok.value.concepts).toEqual(['x']);
    expect(server.requests[1].body.messages.at(-1).content).toMatch(/not valid JSON/);
    await server.close();

    server = await startFakeOpenAI({ reply: () => ({ content: '{"concepts":[]}' }) });
    const error = await client({ maxReasks: 2 }).json('extract', prompt, { text: 'a' }).catch((e) => e);
    expect(error).toBeInstanceOf(LlmError);
    expect(error.failure).toBe('invalid_answer');
    expect(error.retriable).toBe(false);
    expect(error.message).toMatch(/non-empty array/);
    expect(server.requests).toHaveLength(3);
  });

  it('retries 5xx and honours Retry-After on 429 before succeeding', async () => {
    server = await startFakeOpenAI({
      reply: (_b, i) =>
        i === 0 ? { status: 503 } : i === 1 ? { status: 429, headers: { 'retry-after': '0.3' } } : { content: '{"concepts":["y"]}' },
    });
    const started = Date.now();
    const result = await client().json('extract', prompt, { text: 'a' });
    expect(result.value.concepts).toEqual(['y']);
    expect(result.requests).toBe(3);
    expect(server.requests[2].at - server.requests[1].at).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('does not retry a 400 and reports unavailable after the retry budget', async () => {
    server = await startFakeOpenAI({ reply: () => ({ status: 400, error: 'bad schema' }) });
    const bad = await client().json('extract', prompt, { text: 'a' }).catch((e) => e);
    expect(bad.failure).toBe('bad_request');
    expect(bad.message).toMatch(/bad schema/);
    expect(server.requests).toHaveLength(1);
    await server.close();

    server = await startFakeOpenAI({ reply: () => ({ status: 500 }) });
    const down = await client({ maxRetries: 2 }).json('extract', prompt, { text: 'a' }).catch((e) => e);
    expect(down.failure).toBe('unavailable');
    expect(down.retriable).toBe(true);
    expect(server.requests).toHaveLength(3);
  });

  it('caps requests in flight per endpoint', async () => {
    server = await startFakeOpenAI({ latencyMs: 30, reply: () => ({ content: '{"concepts":["z"]}' }) });
    const llm = client({ concurrency: 3 });
    await Promise.all(Array.from({ length: 12 }, (_, i) => llm.json('extract', prompt, { text: String(i) })));
    expect(server.requests).toHaveLength(12);
    expect(server.maxInFlight).toBe(3);
  });

  it('shares one adaptive limiter per endpoint between every client of the process; the strictest ceiling wins', async () => {
    server = await startFakeOpenAI({ latencyMs: 30, reply: () => ({ content: '{"concepts":["z"]}' }) });
    const one = client({ concurrency: 2 });
    const other = client(); // auto
    await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? one : other).json('extract', prompt, { text: String(i) })));
    expect(server.requests).toHaveLength(16);
    expect(server.maxInFlight).toBe(2);
    const label = endpointLabel(server.baseUrl, 'm');
    expect(processLimiters.snapshot()[label]).toMatchObject({ ceiling: 2, inFlight: 0 });
    const metrics = await register.getSingleMetricAsString('grip_llm_concurrency_limit');
    expect(metrics).toContain(`endpoint="${label}"`);
  });

  it('backs off on 429 (counted per endpoint) and still honours Retry-After', async () => {
    server = await startFakeOpenAI({ reply: (_b, i) => (i < 3 ? { status: 429, headers: { 'retry-after': '0.2' } } : { content: '{"concepts":["ok"]}' }) });
    const limiters = new LimiterRegistry({ initial: 10 });
    const llm = client({ limiters });
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 3 }, (_, i) => llm.json('extract', prompt, { text: String(i) })));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    const s = limiters.snapshot()[endpointLabel(server.baseUrl, 'm')]!;
    expect(s.throttles).toBe(3);
    expect(s.limit).toBe(7); // one congestion event: x 0.7 once, not three times
    expect(await register.getSingleMetricAsString('grip_llm_throttle_events_total')).toMatch(new RegExp(`endpoint="${endpointLabel(server.baseUrl, 'm').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}",kind="429"} 3`));
  });

  it('an endpoint that hangs: timeouts shrink the limiter and the call fails as retriable (redelivered, never dead-lettered)', async () => {
    server = await startFakeOpenAI({ latencyMs: 2000, reply: () => ({ content: '{"concepts":["late"]}' }) });
    const limiters = new LimiterRegistry({ initial: 8 });
    const llm = client({ limiters, timeoutMs: 40, maxRetries: 2 });
    const error = await llm.json('extract', prompt, { text: 'a' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ failure: 'unavailable', retriable: true });
    const s = limiters.snapshot()[endpointLabel(server.baseUrl, 'm')]!;
    expect(s.timeouts).toBe(3);
    expect(s.limit).toBeLessThan(8);
  });

  it('treats a cached answer that no longer parses as a miss', async () => {
    server = await startFakeOpenAI({ reply: () => ({ content: '{"concepts":["fresh"]}' }) });
    const cache = new MemoryLlmCache();
    const llm = client({ cache });
    const id = llm.callId('extract', prompt, { text: 'a' });
    cache.set(id, { content: '{"concepts":[]}', model: 'm', promptTokens: 1, completionTokens: 1 });
    const result = await llm.json('extract', prompt, { text: 'a' });
    expect(result.cached).toBe(false);
    expect(result.value.concepts).toEqual(['fresh']);
    expect(server.requests).toHaveLength(1);
  });

  it('names the stage when no endpoint is configured', async () => {
    server = await startFakeOpenAI({ reply: () => ({ content: '{}' }) });
    await expect(client().json('judge_1', prompt, { text: 'a' })).rejects.toThrow(/no endpoint configured for stage "judge_1"/);
  });
});
