/**
 * The OpenAI-compatible HTTP calls (services/runtime/openai-http.ts) against a local server that
 * answers what the test scripts: the path under the base URL, the API key, the error shapes the
 * callers classify (status, the server's message, Retry-After in seconds or as a date), and the
 * two ways of getting no answer (refused, timed out).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EndpointConnectionError, EndpointHttpError, OpenAiEndpoint } from '../../../services/runtime/openai-http.ts';

interface Seen {
  url: string;
  authorization?: string;
  body: unknown;
}

let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

async function serve(answer: (res: http.ServerResponse) => void): Promise<{ baseUrl: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') });
      answer(res);
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`, seen };
}

describe('OpenAiEndpoint', () => {
  it('posts JSON under the base path with the API key and returns the parsed answer', async () => {
    const { baseUrl, seen } = await serve((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}]}'));
    const answer = await new OpenAiEndpoint(baseUrl, 'sk-test').call<{ choices: Array<{ message: { content: string } }> }>('chat/completions', { model: 'm', messages: [] }, 5000);
    expect(answer.choices[0]!.message.content).toBe('hi');
    expect(seen).toEqual([{ url: '/v1/chat/completions', authorization: 'Bearer sk-test', body: { model: 'm', messages: [] } }]);
  });

  it("throws the status with the server's own message and Retry-After (seconds or an HTTP date)", async () => {
    const { baseUrl } = await serve((res) => res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '3' }).end('{"error":{"message":"slow down","type":"rate_limit"}}'));
    const error = await new OpenAiEndpoint(baseUrl, undefined).call('embeddings', {}, 5000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EndpointHttpError);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 3000, message: '429 slow down' });

    await new Promise((r) => server!.close(r));
    const later = new Date(Date.now() + 60_000).toUTCString();
    const dated = await serve((res) => res.writeHead(503, { 'retry-after': later }).end('upstream down'));
    const e2 = (await new OpenAiEndpoint(dated.baseUrl, undefined).call('embeddings', {}, 5000).catch((e: unknown) => e)) as EndpointHttpError;
    expect(e2.status).toBe(503);
    expect(e2.message).toBe('503 upstream down');
    expect(e2.retryAfterMs).toBeGreaterThan(50_000);
  });

  it('a 200 that is not JSON is a failed request (502), not an answer', async () => {
    const { baseUrl } = await serve((res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>proxy</html>'));
    const error = await new OpenAiEndpoint(baseUrl, undefined).call('chat/completions', {}, 5000).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 502 });
  });

  it('no answer: a refused connection, and a server that hangs past the timeout', async () => {
    const { baseUrl } = await serve(() => undefined); // never answers
    const hung = await new OpenAiEndpoint(baseUrl, undefined).call('chat/completions', {}, 300).catch((e: unknown) => e);
    expect(hung).toBeInstanceOf(EndpointConnectionError);
    expect(hung).toMatchObject({ timeout: true });

    const port = (server!.address() as AddressInfo).port;
    server!.closeAllConnections();
    await new Promise((r) => server!.close(r));
    server = undefined;
    const refused = await new OpenAiEndpoint(`http://127.0.0.1:${port}/v1`, undefined).call('chat/completions', {}, 5000).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(EndpointConnectionError);
    expect(refused).toMatchObject({ timeout: false });
    expect((refused as Error).message).toMatch(/ECONNREFUSED/);
  });
});
