/**
 * POST /seeds refuses what it must before reading a body, parses what it accepts as it arrives,
 * and answers with counts plus the first rejections; the dashboard's guards (Host, redaction).
 * An in-process ops server with a fake producer: nothing runs.
 */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startOpsServer, type OpsServer } from '../../../services/runtime/http.ts';
import { hostAllowed, originAllowed, redactSecrets, redactUrl, tokenMatches } from '../../../services/runtime/web-guard.ts';
import { LineSplitter, MAX_SEED_LINE_BYTES, splitLines } from '../../../services/seed-ingest/handler.ts';
import { MAX_CONCURRENT_POSTS, seedRoutes } from '../../../services/seed-ingest/http.ts';
import { FLUSH_BYTES, MAX_LISTED, publishSeeds, publishStream, SEED_FIELDS_HEADER, seedFieldsOf } from '../../../services/seed-ingest/publish.ts';
import { FakeProducer, jsonSerde } from '../kafka/fakes.ts';

const seed = (i: number, chars = 40) => JSON.stringify({ problem: `Problem ${i}: ${'p'.repeat(chars)}`, solution: `Solution ${i}` });

let server: OpsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function ingestServer(opts: { token?: string; producer?: FakeProducer } = {}) {
  const producer = opts.producer ?? new FakeProducer();
  const routes = seedRoutes({ producer, serde: jsonSerde, token: opts.token, allowedHosts: ['grip.internal'], log: () => {}, accepting: () => true });
  server = await startOpsServer({ port: 0, routes: routes.route });
  return { producer, url: `${server.url}/seeds` };
}

/** A raw request (fetch would not let us set Host or send a body slowly). */
function post(url: string, body: Buffer | AsyncIterable<Buffer>, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (Buffer.isBuffer(body)) req.end(body);
    else
      void (async () => {
        for await (const chunk of body) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        req.end();
      })();
  });
}

const NDJSON = { 'content-type': 'application/x-ndjson' };

describe('POST /seeds refuses before reading', () => {
  it('a cross-origin text/plain post (what any web page can send) -> 403, nothing sent', async () => {
    const { producer, url } = await ingestServer();
    const r = await post(url, Buffer.from(`${seed(1)}\n`), { 'content-type': 'text/plain', origin: 'http://evil.example' });
    expect(r.status).toBe(403);
    expect(producer.sent).toHaveLength(0);
  });

  it('a foreign Host (DNS rebinding) -> 403; a wrong Content-Type -> 415; a declared size over the limit -> 413', async () => {
    const { producer, url } = await ingestServer();
    expect((await post(url, Buffer.from(seed(1)), { ...NDJSON, host: 'evil.example:9401' })).status).toBe(403);
    expect((await post(url, Buffer.from(seed(1)), { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post(url, Buffer.from(seed(1)), { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    const big = await post(url, Buffer.from(seed(1)), { ...NDJSON, 'content-length': String(65 * 2 ** 20) });
    expect(big.status).toBe(413);
    expect(producer.sent).toHaveLength(0);
    // same origin, an allowed name, and application/json all pass
    const port = new URL(url).port;
    expect((await post(url, Buffer.from(seed(1)), { 'content-type': 'application/json; charset=utf-8', host: `grip.internal:${port}`, origin: `http://grip.internal:${port}` })).status).toBe(200);
  });

  it('with a token configured, a post without it -> 401, with it -> 200', async () => {
    const { url } = await ingestServer({ token: 's3cret' });
    expect((await post(url, Buffer.from(seed(1)), NDJSON)).status).toBe(401);
    expect((await post(url, Buffer.from(seed(1)), { ...NDJSON, authorization: 'Bearer wrong!' })).status).toBe(401);
    expect((await post(url, Buffer.from(seed(1)), { ...NDJSON, authorization: 'Bearer s3cret' })).status).toBe(200);
  });

  it(`more than ${MAX_CONCURRENT_POSTS} bodies at once -> 429 for the rest, every client answered`, async () => {
    const { url } = await ingestServer();
    // slow bodies keep the first posts in flight while the others arrive
    async function* slow(): AsyncIterable<Buffer> {
      for (let i = 0; i < 5; i++) {
        yield Buffer.from(`${seed(i)}\n`);
        await new Promise((r) => setTimeout(r, 40));
      }
    }
    const answers = await Promise.all(Array.from({ length: 12 }, () => post(url, slow(), NDJSON)));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(MAX_CONCURRENT_POSTS);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
  });
});

describe('POST /seeds answers with counts and the first rejections', () => {
  it('a body of 300 bad lines and 5 good ones: counts of all, the first 100 rejections listed', async () => {
    const { producer, url } = await ingestServer();
    const body = [...Array.from({ length: 300 }, () => '{"problem": '), ...Array.from({ length: 5 }, (_, i) => seed(i))].join('\n');
    const r = await post(url, Buffer.from(body), NDJSON);
    expect(r.status).toBe(200);
    const answer = JSON.parse(r.body);
    expect(answer).toMatchObject({ accepted: 5, duplicates: 0, rejected: 300, truncated: true });
    expect(answer.rejections).toHaveLength(MAX_LISTED);
    expect(answer.rejections[0]).toMatchObject({ line: 1, reason: 'invalid_json' });
    expect(producer.sent.filter((s) => s.topic === 'grip.seeds')).toHaveLength(5);
  });
});

describe('seed lines as they arrive', () => {
  it('LineSplitter gives the lines splitLines gives, whatever the chunking', () => {
    const text = Buffer.from('{"a":1}\r\n\n  \n{"b":2}\n{"c":3}');
    for (const size of [1, 2, 3, 7, 100]) {
      const s = new LineSplitter();
      const got: Array<[number, string]> = [];
      for (let i = 0; i < text.length; i += size) for (const l of s.push(text.subarray(i, i + size))) got.push([l.line, l.bytes.toString()]);
      for (const l of s.end()) got.push([l.line, l.bytes.toString()]);
      expect(got).toEqual(splitLines(text).map((l) => [l.line, l.bytes.toString()]));
    }
  });

  it('a line far over the limit keeps only its start and its real length, and is refused as too large', async () => {
    const s = new LineSplitter();
    const huge = Buffer.alloc(10 * MAX_SEED_LINE_BYTES, 0x61);
    expect(s.push(huge)).toEqual([]);
    const [l] = s.push(Buffer.from('\n'));
    expect(l!.bytes.length).toBe(MAX_SEED_LINE_BYTES + 1);
    expect(l!.byteLength).toBe(huge.length);
  });

  it('records go out in requests of bounded bytes: 500 seeds of 19k characters are several sends, all records sent', async () => {
    const producer = new FakeProducer();
    const sends: number[] = [];
    const send = producer.send.bind(producer);
    producer.send = async (records) => {
      sends.push(records.reduce((n, r) => n + r.value.length, 0));
      return send(records);
    };
    const body = Buffer.from(Array.from({ length: 500 }, (_, i) => seed(i, 19_000)).join('\n'));
    const result = await publishSeeds(body, { producer, serde: jsonSerde, fields: { problem: 'problem', solution: 'solution' }, source: 'test' });
    expect(result.accepted).toBe(500);
    expect(producer.sent).toHaveLength(500);
    expect(sends.length).toBeGreaterThan(10);
    expect(Math.max(...sends)).toBeLessThanOrEqual(FLUSH_BYTES + 20_000);
  });

  it('grip seed add streams its file: --limit counts the file\'s lines, a line split across chunks is whole', async () => {
    const producer = new FakeProducer();
    const text = Buffer.from(`${seed(1)}\n\n${seed(2)}\n${seed(3)}\n${seed(4)}\n`);
    async function* chunks() {
      for (let i = 0; i < text.length; i += 7) yield text.subarray(i, i + 7);
    }
    const deps = { producer, serde: jsonSerde, fields: { problem: 'problem', solution: 'solution' }, source: 'f.jsonl' };
    expect(await publishStream(chunks(), deps, { limit: 4 })).toMatchObject({ accepted: 3, rejected: 0 });
    expect(await publishStream(chunks(), deps)).toMatchObject({ accepted: 4, rejected: 0 });
  });

  it('a reject carries the field mapping it was read with, and replay reads it back', async () => {
    const producer = new FakeProducer();
    const fields = { problem: 'question', solution: 'answer', id: 'uid' };
    await publishSeeds(Buffer.from('{"question": '), { producer, serde: jsonSerde, fields, source: 'gsm8k.jsonl' });
    const [reject] = producer.sent;
    expect(reject!.topic).toBe('grip.seeds.dlq');
    const headers = Object.fromEntries(Object.entries(reject!.headers!).map(([k, v]) => [k, Buffer.from(v)]));
    expect(seedFieldsOf(headers)).toEqual(fields);
    expect(seedFieldsOf({})).toEqual({ problem: 'problem', solution: 'solution' });
    expect(headers[SEED_FIELDS_HEADER]).toBeDefined();
  });
});

describe('web guards', () => {
  it('Host: IP literals, localhost, the machine name and listed names only', () => {
    expect(hostAllowed('127.0.0.1:9401', [], 'box')).toBe(true);
    expect(hostAllowed('[::1]:9401', [], 'box')).toBe(true);
    expect(hostAllowed('localhost:9410', [], 'box')).toBe(true);
    expect(hostAllowed('box:9410', [], 'box')).toBe(true);
    expect(hostAllowed('grip.internal', ['grip.internal'], 'box')).toBe(true);
    expect(hostAllowed('evil.example:9410', [], 'box')).toBe(false);
    expect(hostAllowed(undefined, [], 'box')).toBe(false);
  });

  it('Origin: absent or the same host only', () => {
    expect(originAllowed(undefined, '127.0.0.1:9401')).toBe(true);
    expect(originAllowed('http://127.0.0.1:9401', '127.0.0.1:9401')).toBe(true);
    expect(originAllowed('http://127.0.0.1:3000', '127.0.0.1:9401')).toBe(false);
    expect(originAllowed('null', '127.0.0.1:9401')).toBe(false);
  });

  it('tokens compare whole; URLs and messages lose their credentials', () => {
    expect(tokenMatches('Bearer abc', 'abc')).toBe(true);
    expect(tokenMatches('Bearer abcd', 'abc')).toBe(false);
    expect(tokenMatches(undefined, 'abc')).toBe(false);
    expect(redactUrl('http://admin:hunter2@ch.internal:8123/?password=x')).toBe('http://ch.internal:8123/?password=***');
    expect(redactUrl('http://127.0.0.1:8123')).toBe('http://127.0.0.1:8123');
    expect(redactSecrets('connect to http://admin:hunter2@ch:8123 failed, password hunter2', ['hunter2'])).not.toMatch(/hunter2/);
  });
});
