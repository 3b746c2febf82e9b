/**
 * POST /seeds: a JSONL body (Content-Type application/x-ndjson or application/json) -> grip.seeds,
 * and grip.seeds.dlq for the lines it refuses. Field mapping by query string:
 * ?problem_field=&solution_field=&id_field=.
 *
 * Checked before a byte of the body is read: Host (DNS rebinding) and Origin (a web page posting
 * cross-origin, even as a no-CORS text/plain request): 403; the token when one is configured: 401;
 * the Content-Type: 415; a Content-Length over MAX_BODY_BYTES: 413; more than MAX_CONCURRENT_POSTS
 * bodies being read at once: 429 (Retry-After). The body is then parsed as it arrives and sent in
 * requests of bounded size: memory per request is one line and one Kafka request, whatever the
 * body. A body that turns out larger than MAX_BODY_BYTES is cut there: 413 with what was sent of
 * it. 200 carries counts and the first rejections (PublishResult), once the broker acknowledged
 * every record; 503 when Kafka is unreachable (content-hash ids make sending the body again harmless).
 */
import type http from 'node:http';
import { MATH_FIELDS, type FieldMapping } from '../../core/seeds/index.ts';
import { Counter } from 'prom-client';
import { errorMessage } from '../runtime/kafka/errors.ts';
import type { ProducerPort, Serde } from '../runtime/kafka/index.ts';
import { hostAllowed, originAllowed, tokenMatches } from '../runtime/web-guard.ts';
import { LineSplitter } from './handler.ts';
import { SeedPublisher, type PublishResult } from './publish.ts';

/** Largest POST /seeds body. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Bodies read at once; more are answered 429. Each holds at most one line and one Kafka request. */
export const MAX_CONCURRENT_POSTS = 4;
const ACCEPTED_TYPES = new Set(['application/x-ndjson', 'application/json']);

const refusals = new Counter({ name: 'grip_seed_ingest_refused_requests_total', help: 'POST /seeds requests refused before reading, by reason', labelNames: ['reason'] as const });

export interface SeedRoutesDeps {
  producer: ProducerPort;
  serde: Serde;
  token: string | undefined;
  allowedHosts: readonly string[];
  log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /** False once the service stops: new posts get 503. */
  accepting: () => boolean;
}

export interface SeedRoutes {
  /** The ops server's route hook: true when it answered. */
  route(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** Posts being read or sent. */
  inFlight(): number;
  /** Resolves when no post is in flight. */
  idle(): Promise<void>;
}

export function seedRoutes(deps: SeedRoutesDeps): SeedRoutes {
  let inFlight = 0;
  const idleWaiters: Array<() => void> = [];

  const reply = (req: http.IncomingMessage, res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(`${JSON.stringify(body)}\n`);
    // What was not read is read and dropped (not kept), so the client gets this answer, not a reset.
    req.resume();
  };
  const refuse = (req: http.IncomingMessage, res: http.ServerResponse, status: number, reason: string, error: string, headers?: Record<string, string>) => {
    refusals.inc({ reason });
    reply(req, res, status, { error }, headers);
  };

  async function ingest(req: http.IncomingMessage, res: http.ServerResponse, fields: FieldMapping): Promise<void> {
    const publisher = new SeedPublisher({ producer: deps.producer, serde: deps.serde, fields, source: 'http' });
    const splitter = new LineSplitter();
    let size = 0;
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          const sent: PublishResult = await publisher.finish();
          return reply(req, res, 413, { error: `body has more than ${MAX_BODY_BYTES} bytes: the lines before that were sent (counts below), the rest was not read; send the rest in another request`, ...sent });
        }
        for (const l of splitter.push(chunk)) await publisher.line(l.line, l.bytes, l.byteLength);
      }
      for (const l of splitter.end()) await publisher.line(l.line, l.bytes, l.byteLength);
      reply(req, res, 200, await publisher.finish());
    } catch (error) {
      if (req.destroyed && !res.headersSent) return; // the client went away
      deps.log('error', 'POST /seeds failed', { error: errorMessage(error) });
      reply(req, res, 503, { error: `could not write to Kafka: ${errorMessage(error)}`, ...publisher.partial() });
    }
  }

  function route(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/seeds') return false;
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return true;
    }
    if (!deps.accepting()) return (refuse(req, res, 503, 'stopping', 'seed-ingest is shutting down'), true);
    if (!hostAllowed(req.headers.host, deps.allowedHosts)) return (refuse(req, res, 403, 'host', `Host ${JSON.stringify(req.headers.host ?? '')} is not one this service answers to (GRIP_ALLOWED_HOSTS)`), true);
    if (!originAllowed(req.headers.origin, req.headers.host)) return (refuse(req, res, 403, 'origin', `cross-origin request from ${req.headers.origin} refused`), true);
    if (deps.token !== undefined && !tokenMatches(req.headers.authorization, deps.token)) {
      return (refuse(req, res, 401, 'token', 'missing or wrong token: send Authorization: Bearer <GRIP_INGEST_TOKEN>', { 'www-authenticate': 'Bearer' }), true);
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!ACCEPTED_TYPES.has(type)) return (refuse(req, res, 415, 'content_type', `Content-Type must be application/x-ndjson or application/json (one JSON seed per line), got ${JSON.stringify(type)}`), true);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      // Not worth reading just to drop it: answer and close the connection.
      refusals.inc({ reason: 'too_large' });
      res.writeHead(413, { 'content-type': 'application/json', connection: 'close' }).end(`${JSON.stringify({ error: `body has ${declared} bytes, more than ${MAX_BODY_BYTES}; send the seeds in several requests` })}\n`, () => req.destroy());
      return true;
    }
    if (inFlight >= MAX_CONCURRENT_POSTS) return (refuse(req, res, 429, 'busy', `${MAX_CONCURRENT_POSTS} posts are being read; try again shortly`, { 'retry-after': '1' }), true);
    const fields: FieldMapping = {
      problem: url.searchParams.get('problem_field') || MATH_FIELDS.problem,
      solution: url.searchParams.get('solution_field') || MATH_FIELDS.solution,
      id: url.searchParams.get('id_field') || undefined,
    };
    inFlight++;
    void ingest(req, res, fields).finally(() => {
      inFlight--;
      if (inFlight === 0) idleWaiters.splice(0).forEach((resolve) => resolve());
    });
    return true;
  }

  return {
    route,
    inFlight: () => inFlight,
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
  };
}
