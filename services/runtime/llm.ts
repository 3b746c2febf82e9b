/**
 * The LLM client every stage uses: OpenAI-compatible chat completions with a JSON-schema response
 * format, over openai-http.ts (undici; why not the openai SDK: there). It adds what a data pipeline needs around one call:
 * - a response cache keyed by a deterministic id (stage + prompt version + model + messages), so a
 *   redelivered message or a resumed run never pays for the same call twice;
 * - an adaptive concurrency limit per endpoint, shared by every client of the process
 *   (limiter.ts: grows while latency stays near the endpoint's probed no-queue latency, backs off
 *   on 429/503, falls to its minimum on timeouts), a
 *   per-request timeout, retries with backoff and jitter, and a cooldown shared by all callers of
 *   an endpoint after a 429 (Retry-After honoured);
 * - validation of every answer against the prompt's parser and a bounded re-ask when it fails;
 * - token and call accounting per stage, as prom-client metrics and as plain numbers for reports.
 */
import { Counter, Histogram } from 'prom-client';
import { deterministicId } from '../../core/util/hash.ts';
import type { LlmEndpoint } from './config.ts';
import { ClassifiedError, type FailureKind } from './errors.ts';
import { DEFAULT_BACKOFF, sleep, withRetry, type BackoffOptions } from './retry.ts';
import type { AdaptiveLimiter, Outcome } from './limiter.ts';
import { EndpointConnectionError, EndpointHttpError, endpointFailureKind, OpenAiEndpoint, type ChatCompletion, type HttpPost } from './openai-http.ts';
import { ceilingOf, endpointLabel, llmThrottles, processLimiters, type ConcurrencySetting, type LimiterRegistry } from './limiters.ts';

const llmRequestSeconds = new Histogram({
  name: 'grip_llm_request_duration_seconds',
  help: 'Latency of LLM requests sent to a model server (cache hits excluded)',
  labelNames: ['stage', 'outcome'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
});
const llmCalls = new Counter({
  name: 'grip_llm_calls_total',
  help: 'LLM calls by stage and outcome (ok, cached, invalid_answer, unavailable, bad_request, configuration)',
  labelNames: ['stage', 'outcome'] as const,
});
const llmTokens = new Counter({
  name: 'grip_llm_tokens_total',
  help: 'Tokens used by LLM calls that reached a model server',
  labelNames: ['stage', 'kind'] as const,
});

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** What a prompt template gives the client (core/prompts implements it). */
export interface JsonPrompt<Vars, Answer> {
  name: string;
  version: string;
  schema: Record<string, unknown>;
  /** Cap on answer tokens for this prompt (the client's default otherwise). */
  maxTokens?: number;
  render(vars: Vars): ChatMessage[];
  parse(raw: unknown): Answer;
}

export interface CachedAnswer {
  content: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
}

/** Where answers are kept between deliveries and runs (in memory, a file, a shared store). */
export interface LlmCache {
  get(key: string): Promise<CachedAnswer | undefined> | CachedAnswer | undefined;
  set(key: string, value: CachedAnswer): Promise<void> | void;
}

export class MemoryLlmCache implements LlmCache {
  private readonly map = new Map<string, CachedAnswer>();
  get(key: string) {
    return this.map.get(key);
  }
  set(key: string, value: CachedAnswer) {
    this.map.set(key, value);
  }
  get size() {
    return this.map.size;
  }
}

export type LlmFailure = 'invalid_answer' | 'unavailable' | 'overloaded' | 'bad_request' | 'configuration';

const FAILURE_KIND: Record<LlmFailure, FailureKind> = {
  invalid_answer: 'bad_input',
  bad_request: 'bad_input',
  unavailable: 'transient',
  overloaded: 'overload',
  configuration: 'configuration',
};

/**
 * A call that could not produce a valid answer. Its kind (errors.ts) tells the caller what trying
 * again can do: the server down or full (retried later), the endpoint refusing our settings (401,
 * 403, 404: the stage pauses until it is fixed), or the message's fault (the model keeps answering
 * badly, the request itself is wrong: to the DLQ as `llm_<failure>`).
 */
export class LlmError extends ClassifiedError {
  constructor(
    readonly failure: LlmFailure,
    readonly stage: string,
    message: string,
    readonly attempts: number,
    options?: { cause?: unknown; dependency?: string },
  ) {
    super(`${stage}: ${message}`, FAILURE_KIND[failure], `llm_${failure}`, options);
    this.name = 'LlmError';
  }
}

export interface LlmCallResult<Answer> {
  value: Answer;
  /** The cache key: deterministic for stage, prompt version, model and messages. */
  id: string;
  cached: boolean;
  model: string;
  /** HTTP requests sent for this call (0 when cached). */
  requests: number;
  promptTokens: number;
  completionTokens: number;
}

export interface StageUsage {
  /** Structured calls asked for, cache hits included: the same for a run and its resume. */
  calls: number;
  cached: number;
  requests: number;
  reasks: number;
  failures: number;
  /** Tokens paid for by requests this client sent. */
  promptTokens: number;
  completionTokens: number;
  /** Tokens of every answer used, cache hits included (what the data cost to make). */
  tokens: number;
}

export interface LlmClientOptions {
  endpoints: Record<string, LlmEndpoint>;
  cache?: LlmCache;
  /** Ceiling of the adaptive limit of requests in flight per endpoint (base URL + model); 'auto' (default): no ceiling but AUTO_CEILING. */
  concurrency?: ConcurrencySetting;
  /** Where the endpoint limiters live. Default: the process's (shared by every client). */
  limiters?: LimiterRegistry;
  /**
   * Per-request timeout. Default: 120 s, or longer for a prompt whose answer may be long: its token
   * cap at MIN_TOKENS_PER_SECOND (a CPU model's long answer is not a hung server).
   */
  timeoutMs?: number;
  /** Cap on retries of a failed request (connection error, timeout, 408/409/429/5xx); default: none but `patienceMs`. */
  maxRetries?: number;
  /**
   * How long one call waits out an endpoint that is down or overloaded (retry.ts), ms; then it
   * throws a retriable LlmError and the stage retries the message later. Default 30 s.
   */
  patienceMs?: number;
  /** Extra requests after an answer that is not valid JSON or fails the prompt's parser. */
  maxReasks?: number;
  backoff?: BackoffOptions;
  /** Pause for all callers of an endpoint after a 429 without Retry-After. */
  cooldownMs?: number;
  temperature?: number;
  maxTokens?: number;
  /** The HTTP POST (default: undici, openai-http.ts); injected by the benchmark to meter requests. */
  http?: HttpPost;
}

interface EndpointState {
  client: OpenAiEndpoint;
  limiter: AdaptiveLimiter;
  label: string;
  cooldownUntil: number;
}

/** llama.cpp's error for a grammar-constrained answer cut off before it could be completed. */
const CUT_OFF_ANSWER = /does not match the expected [\w-]+ format|failed to parse (?:the )?(?:grammar|output)/i;

/** The slowest generation a request is given time for (the local CPU model makes ~8 tokens/s). */
const MIN_TOKENS_PER_SECOND = 4;

export class LlmClient {
  private readonly endpointStates = new Map<string, EndpointState>();
  private readonly usage = new Map<string, StageUsage>();
  /** Calls being asked now, by id: an identical call meanwhile waits for the same answer. */
  private readonly inFlight = new Map<string, Promise<LlmCallResult<unknown>>>();
  private readonly opts: Required<Omit<LlmClientOptions, 'http' | 'cache' | 'concurrency'>> & Pick<LlmClientOptions, 'http'> & { ceiling: number; scaleTimeout: boolean };
  readonly cache: LlmCache;

  constructor(options: LlmClientOptions) {
    this.opts = {
      endpoints: options.endpoints,
      ceiling: ceilingOf(options.concurrency),
      limiters: options.limiters ?? processLimiters,
      timeoutMs: options.timeoutMs ?? 120_000,
      scaleTimeout: options.timeoutMs === undefined,
      maxRetries: options.maxRetries ?? Number.POSITIVE_INFINITY,
      patienceMs: options.patienceMs ?? 30_000,
      maxReasks: options.maxReasks ?? 2,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      cooldownMs: options.cooldownMs ?? 2_000,
      temperature: options.temperature ?? 0,
      maxTokens: options.maxTokens ?? 1024,
      http: options.http,
    };
    this.cache = options.cache ?? new MemoryLlmCache();
  }

  /** Requests of this process waiting for an endpoint limiter: what the stages admit records by. */
  waiting(): number {
    return this.opts.limiters.waiting();
  }

  /** Calls counted per stage since this client was made (cache hits included, as `cached`). */
  usageByStage(): Record<string, StageUsage> {
    return Object.fromEntries([...this.usage].map(([k, v]) => [k, { ...v }]));
  }

  /** The cache key a call would use, without calling. */
  callId<V>(stage: string, prompt: JsonPrompt<V, unknown>, vars: V): string {
    const endpoint = this.endpoint(stage);
    return deterministicId(stage, prompt.version, { model: endpoint.model, messages: prompt.render(vars) });
  }

  /**
   * What a call of `prompt` at `stage` depends on besides its messages: model, prompt version and
   * sampling settings. Output ids are made of these and the input's id, never of answers: an answer
   * may differ on another instance (a model that is not bit-reproducible), an id must not.
   */
  callSettings(stage: string, prompt: Pick<JsonPrompt<never, unknown>, 'version' | 'maxTokens'>): { stage: string; model: string; prompt_version: string; temperature: number; max_tokens: number } {
    const endpoint = this.endpoint(stage);
    return { stage, model: endpoint.model, prompt_version: prompt.version, temperature: this.opts.temperature, max_tokens: prompt.maxTokens ?? this.opts.maxTokens };
  }

  /** One structured call: cached answer if any, else ask the model until it answers validly. */
  async json<V, A>(stage: string, prompt: JsonPrompt<V, A>, vars: V): Promise<LlmCallResult<A>> {
    const endpoint = this.endpoint(stage);
    const messages = prompt.render(vars);
    const id = deterministicId(stage, prompt.version, { model: endpoint.model, messages });
    const usage = this.stageUsage(stage);
    usage.calls++;

    const hit = await this.cache.get(id);
    if (hit) {
      try {
        const value = prompt.parse(JSON.parse(hit.content));
        usage.cached++;
        usage.tokens += hit.promptTokens + hit.completionTokens;
        llmCalls.inc({ stage, outcome: 'cached' });
        return { value, id, cached: true, model: hit.model, requests: 0, promptTokens: hit.promptTokens, completionTokens: hit.completionTokens };
      } catch {
        // A cached answer the current parser rejects is treated as a miss and replaced.
      }
    }

    // The same call twice at once (a message redelivered while its first delivery still runs, a
    // seed sent twice in one batch): one request, one answer for both, so both produce one output.
    const running = this.inFlight.get(id) as Promise<LlmCallResult<A>> | undefined;
    if (running) {
      const shared = await running;
      usage.cached++;
      usage.tokens += shared.promptTokens + shared.completionTokens;
      llmCalls.inc({ stage, outcome: 'cached' });
      return { ...shared, cached: true, requests: 0 };
    }
    const asking = this.ask(stage, endpoint, prompt, messages, id);
    this.inFlight.set(id, asking);
    try {
      return await asking;
    } finally {
      this.inFlight.delete(id);
    }
  }

  /** Asks the model until it answers validly (bounded re-asks), caching the valid answer. */
  private async ask<V, A>(stage: string, endpoint: LlmEndpoint, prompt: JsonPrompt<V, A>, messages: ChatMessage[], id: string): Promise<LlmCallResult<A>> {
    const usage = this.stageUsage(stage);
    const conversation: ChatMessage[] = [...messages];
    let requests = 0;
    let promptTokens = 0;
    let completionTokens = 0;
    let lastProblem = '';
    for (let ask = 0; ask <= this.opts.maxReasks; ask++) {
      if (ask > 0) usage.reasks++;
      const answer = await this.request(stage, endpoint, prompt, conversation);
      requests += answer.requests;
      promptTokens += answer.promptTokens;
      completionTokens += answer.completionTokens;
      if (answer.cutOff) {
        // The server refused an answer its grammar could not close (cut at the token cap): asking the
        // same again gives the same answer at temperature 0, so ask for a shorter one.
        lastProblem = `cut off at the length limit (${answer.cutOff})`;
        conversation.push({ role: 'user', content: `Your answer was cut off at the length limit. Answer again much more briefly, with JSON only, matching the schema.` });
        continue;
      }
      try {
        const value = prompt.parse(JSON.parse(answer.content));
        await this.cache.set(id, { content: answer.content, model: endpoint.model, promptTokens, completionTokens });
        usage.tokens += promptTokens + completionTokens;
        llmCalls.inc({ stage, outcome: 'ok' });
        return { value, id, cached: false, model: endpoint.model, requests, promptTokens, completionTokens };
      } catch (error) {
        lastProblem = error instanceof SyntaxError ? `not valid JSON (${error.message})` : (error as Error).message;
        if (answer.finishReason === 'length') {
          // Cut at the token cap (a server without grammar-constrained output, or one that does not
          // refuse the cut): the broken answer is no use to the model, a shorter one is.
          lastProblem = `cut off at the length limit after ${answer.completionTokens} tokens (${lastProblem})`;
          conversation.push({ role: 'user', content: `Your answer was cut off at the length limit. Answer again much more briefly, with JSON only, matching the schema.` });
          continue;
        }
        conversation.push(
          { role: 'assistant', content: answer.content },
          { role: 'user', content: `That answer was invalid: ${lastProblem}. Answer again with JSON only, matching the schema.` },
        );
      }
    }
    usage.failures++;
    llmCalls.inc({ stage, outcome: 'invalid_answer' });
    throw new LlmError('invalid_answer', stage, `no valid answer after ${this.opts.maxReasks + 1} tries: ${lastProblem}`, requests);
  }

  private endpoint(stage: string): LlmEndpoint {
    const endpoint = this.opts.endpoints[stage];
    if (!endpoint) throw new Error(`LlmClient: no endpoint configured for stage "${stage}"`);
    return endpoint;
  }

  private stageUsage(stage: string): StageUsage {
    let u = this.usage.get(stage);
    if (!u) {
      u = { calls: 0, cached: 0, requests: 0, reasks: 0, failures: 0, promptTokens: 0, completionTokens: 0, tokens: 0 };
      this.usage.set(stage, u);
    }
    return u;
  }

  private state(endpoint: LlmEndpoint): EndpointState {
    const key = `${endpoint.baseUrl}\u0000${endpoint.model}`;
    let s = this.endpointStates.get(key);
    if (!s) {
      s = {
        // no retries below this client: they are ours (shared cooldown, jitter, accounting)
        client: new OpenAiEndpoint(endpoint.baseUrl, endpoint.apiKey, this.opts.http),
        limiter: this.opts.limiters.get(endpointLabel(endpoint.baseUrl, endpoint.model), this.opts.ceiling),
        label: endpointLabel(endpoint.baseUrl, endpoint.model),
        cooldownUntil: 0,
      };
      this.endpointStates.set(key, s);
    }
    return s;
  }

  /** One answer from the server, retrying transport failures (retry.ts); never judges the content. */
  private async request(
    stage: string,
    endpoint: LlmEndpoint,
    prompt: JsonPrompt<unknown, unknown>,
    messages: ChatMessage[],
  ): Promise<{ content: string; requests: number; promptTokens: number; completionTokens: number; cutOff?: string; finishReason?: string }> {
    const state = this.state(endpoint);
    const usage = this.stageUsage(stage);
    const dependency = `llm ${state.label}`;
    const maxTokens = prompt.maxTokens ?? this.opts.maxTokens;
    // A long answer from a slow (CPU) model is not a hung server: allow its token cap at
    // MIN_TOKENS_PER_SECOND before timing out (a timeout throws the partial answer away).
    const timeout = this.opts.scaleTimeout ? Math.max(this.opts.timeoutMs, (maxTokens / MIN_TOKENS_PER_SECOND) * 1000) : this.opts.timeoutMs;
    let attempts = 0;
    const once = async () => {
      attempts++;
      const wait = state.cooldownUntil - Date.now();
      if (wait > 0) await sleep(wait);
      const permit = await state.limiter.acquire();
      const started = performance.now();
      let outcome: Outcome = 'error';
      try {
        const completion = await state.client.call<ChatCompletion>(
          'chat/completions',
          {
            model: endpoint.model,
            messages,
            temperature: this.opts.temperature,
            max_tokens: maxTokens,
            response_format: {
              type: 'json_schema',
              json_schema: { name: prompt.name.replace(/[^A-Za-z0-9_-]/g, '_'), schema: prompt.schema, strict: true },
            },
          },
          timeout,
        );
        outcome = 'ok';
        usage.requests++;
        const promptTokens = completion.usage?.prompt_tokens ?? 0;
        const completionTokens = completion.usage?.completion_tokens ?? 0;
        usage.promptTokens += promptTokens;
        usage.completionTokens += completionTokens;
        llmTokens.inc({ stage, kind: 'prompt' }, promptTokens);
        llmTokens.inc({ stage, kind: 'completion' }, completionTokens);
        llmRequestSeconds.observe({ stage, outcome: 'ok' }, (performance.now() - started) / 1000);
        const choice = completion.choices?.[0];
        return { content: choice?.message?.content ?? '', requests: attempts, promptTokens, completionTokens, finishReason: choice?.finish_reason };
      } catch (error) {
        usage.requests++;
        llmRequestSeconds.observe({ stage, outcome: 'error' }, (performance.now() - started) / 1000);
        const status = error instanceof EndpointHttpError ? error.status : undefined;
        // llama.cpp answers 500 when constrained output is cut at max_tokens before the JSON closes:
        // a bad answer (the same again on a retry), not a server in trouble.
        if (status === 500 && CUT_OFF_ANSWER.test(describe(error))) {
          outcome = 'ok';
          return { content: '', requests: attempts, promptTokens: 0, completionTokens: 0, cutOff: describe(error) };
        }
        outcome = limiterOutcome(error, status);
        if (outcome !== 'error') llmThrottles.inc({ endpoint: state.label, kind: status === undefined ? 'timeout' : String(status) });
        if (status === 429) {
          const retryAfter = (error as EndpointHttpError).retryAfterMs;
          state.cooldownUntil = Math.max(state.cooldownUntil, Date.now() + (retryAfter ?? this.opts.cooldownMs));
        }
        throw error;
      } finally {
        permit.release(outcome);
      }
    };
    return withRetry(
      {
        site: 'llm',
        dependency,
        classify: endpointFailureKind,
        patienceMs: this.opts.patienceMs,
        maxAttempts: this.opts.maxRetries + 1,
        backoff: this.opts.backoff,
        wrap: (error, kind, tries) => {
          usage.failures++;
          const failure: LlmFailure = kind === 'configuration' ? 'configuration' : kind === 'bad_input' ? 'bad_request' : kind === 'overload' ? 'overloaded' : 'unavailable';
          llmCalls.inc({ stage, outcome: failure === 'overloaded' ? 'unavailable' : failure });
          const what =
            kind === 'configuration'
              ? `${endpoint.baseUrl} refuses this configuration (model ${endpoint.model}; check the URL, model name and API key): ${describe(error)}`
              : kind === 'bad_input'
                ? `request rejected by ${endpoint.baseUrl}: ${describe(error)}`
                : `${endpoint.baseUrl} failed ${tries} time${tries === 1 ? '' : 's'}: ${describe(error)}`;
          return new LlmError(failure, stage, what, tries, { cause: error, dependency });
        },
      },
      once,
    );
  }
}

/** What an answer tells the endpoint's limiter: overload (429, 503, timeout) shrinks it; other errors say nothing about load. */
function limiterOutcome(error: unknown, status: number | undefined): Outcome {
  if (status === 429 || status === 503) return 'throttled';
  if (error instanceof EndpointConnectionError && error.timeout) return 'timeout';
  return 'error';
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
