/**
 * The two OpenAI-compatible calls GRIP makes (POST {baseUrl}/chat/completions and /embeddings),
 * over undici's `request` API and one keep-alive connection pool per process.
 *
 * Why not the openai SDK (the original design's choice): a data-generation pipeline sends
 * thousands of small requests a second to a self-hosted server, so the client's CPU per request
 * bounds what one machine routes. The SDK sits on WHATWG fetch (web streams, an AbortSignal and
 * header objects per request) and adds its own request building and logging; measured against
 * the same local endpoint (bench/README.md): the SDK about 1.0 ms CPU per call, fetch 0.9 ms,
 * undici's request 0.13 ms. undici is the Node.js project's own HTTP client (fetch is built on
 * it); GRIP needs only JSON in, JSON out, the status and the Retry-After header.
 *
 * Failures keep the shapes the callers classify: EndpointHttpError (a status, the server's
 * message, Retry-After) and EndpointConnectionError (refused, reset, or timed out).
 */
import { Agent } from 'undici';
import type { FailureKind } from './errors.ts';
import { httpFailureKind } from './retry.ts';

/** What one POST returned. */
export interface HttpAnswer {
  status: number;
  /** A response header (lower-case name). */
  header(name: string): string | undefined;
  text: string;
}

export interface HttpRequest {
  /** Scheme, host and port: `http://127.0.0.1:8090`. */
  origin: string;
  /** Path and query: `/v1/chat/completions`. */
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The whole request (a model server answers only when it has generated), ms. */
  timeoutMs: number;
}

/** One POST; injectable so that the benchmark can meter requests and tests can fake transports. */
export type HttpPost = (request: HttpRequest) => Promise<HttpAnswer>;

/** The server answered with a status outside 2xx. */
export class EndpointHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`${status} ${message}`);
    this.name = 'EndpointHttpError';
  }
}

/** No answer: the connection was refused or broke, or the request timed out (`timeout`). */
export class EndpointConnectionError extends Error {
  constructor(
    message: string,
    readonly timeout: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EndpointConnectionError';
  }
}

/** How the retry protocol (retry.ts) treats a failed call: by its status, or transient when no answer came (timeouts included). */
export function endpointFailureKind(error: unknown): FailureKind | undefined {
  if (error instanceof EndpointHttpError) return httpFailureKind(error.status);
  if (error instanceof EndpointConnectionError) return 'transient';
  return undefined;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

let sharedAgent: Agent | undefined;

/** The process's connection pool: keep-alive connections per origin, as many as the limiters let through. */
function agent(): Agent {
  sharedAgent ??= new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000 });
  return sharedAgent;
}

/** A POST over undici's request API (no web streams: the body is read as one string). */
export const undiciPost: HttpPost = async (r) => {
  try {
    const res = await agent().request({ origin: r.origin, path: r.path, method: 'POST', headers: r.headers, body: r.body, headersTimeout: r.timeoutMs, bodyTimeout: r.timeoutMs });
    const text = await res.body.text();
    const headers = res.headers;
    return {
      status: res.statusCode,
      header: (name) => {
        const v = headers[name];
        return Array.isArray(v) ? v[0] : v;
      },
      text,
    };
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    const timeout = TIMEOUT_CODES.has(code);
    const what = timeout ? `no answer within ${r.timeoutMs} ms` : (error as Error).message || code;
    throw new EndpointConnectionError(`${r.origin}${r.path}: ${what}${code && !timeout ? ` (${code})` : ''}`, timeout, { cause: error });
  }
};

/** The server's own words for a failed request: OpenAI's `{error: {message}}`, else the body's start. */
function serverMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const e = parsed.error;
    if (typeof e === 'string') return e;
    if (e && typeof e.message === 'string') return e.message;
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: a proxy's page, plain text
  }
  return text.trim().slice(0, 500) || '(empty body)';
}

function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value); // Retry-After may also be an HTTP date
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/** One OpenAI-compatible endpoint: base URL (with its /v1) and API key. */
export class OpenAiEndpoint {
  private readonly origin: string;
  private readonly basePath: string;
  private readonly headers: Record<string, string>;

  constructor(
    baseUrl: string,
    apiKey: string | undefined,
    private readonly post: HttpPost = undiciPost,
  ) {
    const url = new URL(baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.headers = { 'content-type': 'application/json', accept: 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
  }

  /** POSTs `body` as JSON to `{baseUrl}/{route}` and returns the parsed answer; throws on non-2xx. */
  async call<T>(route: 'chat/completions' | 'embeddings', body: unknown, timeoutMs: number): Promise<T> {
    const answer = await this.post({ origin: this.origin, path: `${this.basePath}/${route}`, headers: this.headers, body: JSON.stringify(body), timeoutMs });
    if (answer.status < 200 || answer.status >= 300) throw new EndpointHttpError(answer.status, serverMessage(answer.text), retryAfterMs(answer.header('retry-after')));
    try {
      return JSON.parse(answer.text) as T;
    } catch {
      // a 200 that is not JSON: a proxy or a server in trouble, not an answer
      throw new EndpointHttpError(502, `the ${route} answer is not JSON: ${answer.text.slice(0, 200)}`, undefined);
    }
  }
}

/** The fields GRIP reads of a chat completion. */
export interface ChatCompletion {
  choices?: Array<{ message?: { content?: string | null }; finish_reason?: string }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

/** The fields GRIP reads of an embeddings answer. */
export interface EmbeddingsAnswer {
  data: Array<{ index: number; embedding: number[] }>;
}
