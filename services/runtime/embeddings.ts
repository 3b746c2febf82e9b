/**
 * Embeddings over the OpenAI-compatible /v1/embeddings API, batched, with retries (retry.ts: an
 * outage is waited out for `patienceMs`, then a retriable error makes the stage retry the message
 * later; 401/403/404 is a configuration error: the stage pauses; other 4xx: the message's fault), a
 * concurrency cap and a cache by (model, text), so that a KC name seen again costs no request.
 */
import { Counter, Histogram } from 'prom-client';
import type { LlmEndpoint } from './config.ts';
import { ClassifiedError } from './errors.ts';
import { endpointFailureKind, OpenAiEndpoint, type EmbeddingsAnswer } from './openai-http.ts';
import { DEFAULT_BACKOFF, withRetry, type BackoffOptions } from './retry.ts';
import { Semaphore } from './semaphore.ts';

const embeddingSeconds = new Histogram({
  name: 'grip_embedding_request_duration_seconds',
  help: 'Latency of embedding requests',
  labelNames: ['outcome'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
});
const embeddedTexts = new Counter({
  name: 'grip_embedding_texts_total',
  help: 'Texts embedded, by whether the cache answered',
  labelNames: ['source'] as const,
});

export interface EmbeddingsOptions {
  endpoint: LlmEndpoint;
  batchSize?: number;
  concurrency?: number;
  timeoutMs?: number;
  /** Cap on retries of one request (default: none but `patienceMs`). */
  maxRetries?: number;
  /** How long one request waits out a server that is down, ms (default 30 s). */
  patienceMs?: number;
  backoff?: BackoffOptions;
  /** Max cached vectors; the oldest go first past it. */
  cacheEntries?: number;
}

export class EmbeddingsClient {
  private readonly client: OpenAiEndpoint;
  private readonly limiter: Semaphore;
  private readonly cache = new Map<string, Float32Array>();
  private readonly opts: Required<Omit<EmbeddingsOptions, 'endpoint'>>;
  requests = 0;

  constructor(readonly options: EmbeddingsOptions) {
    this.opts = {
      batchSize: options.batchSize ?? 64,
      concurrency: options.concurrency ?? 2,
      timeoutMs: options.timeoutMs ?? 60_000,
      maxRetries: options.maxRetries ?? Number.POSITIVE_INFINITY,
      patienceMs: options.patienceMs ?? 30_000,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      cacheEntries: options.cacheEntries ?? 200_000,
    };
    this.client = new OpenAiEndpoint(options.endpoint.baseUrl, options.endpoint.apiKey);
    this.limiter = new Semaphore(this.opts.concurrency);
  }

  /** Requests waiting for a free connection: a stage that embeds admits records by it too. */
  waiting(): number {
    return this.limiter.waiting;
  }

  /** One vector per text, in order; L2-normalized so a dot product is the cosine. */
  async embed(texts: string[]): Promise<Float32Array[]> {
    const out: Array<Float32Array | undefined> = texts.map((t) => this.cache.get(t));
    const missing = [...new Set(texts.filter((_, i) => !out[i]))];
    embeddedTexts.inc({ source: 'cache' }, texts.length - texts.filter((_, i) => !out[i]).length);
    const batches: string[][] = [];
    for (let i = 0; i < missing.length; i += this.opts.batchSize) batches.push(missing.slice(i, i + this.opts.batchSize));
    await Promise.all(batches.map((batch) => this.limiter.run(() => this.request(batch))));
    return texts.map((t, i) => {
      const v = out[i] ?? this.cache.get(t);
      if (!v) throw new Error(`embeddings: no vector came back for ${JSON.stringify(t.slice(0, 60))}`);
      return v;
    });
  }

  private async request(batch: string[]): Promise<void> {
    const dependency = `embeddings ${this.options.endpoint.baseUrl}`;
    await withRetry(
      {
        site: 'embeddings',
        dependency,
        classify: (error) => {
          if (error instanceof ClassifiedError) return error.kind;
          return endpointFailureKind(error);
        },
        patienceMs: this.opts.patienceMs,
        maxAttempts: this.opts.maxRetries + 1,
        backoff: this.opts.backoff,
        wrap: (error, kind, tries) => {
          const message = error instanceof Error ? error.message : String(error);
          const what =
            kind === 'configuration'
              ? `${this.options.endpoint.baseUrl} refuses this configuration (model ${this.options.endpoint.model}; check the URL, model name and API key): ${message}`
              : kind === 'bad_input'
                ? `request rejected by ${this.options.endpoint.baseUrl}: ${message}`
                : `${this.options.endpoint.baseUrl} failed ${tries} time${tries === 1 ? '' : 's'}: ${message}`;
          return new ClassifiedError(`embeddings: ${what}`, kind, `embeddings_${kind}`, { cause: error, dependency });
        },
      },
      async () => {
        const started = performance.now();
        try {
          this.requests++;
          const response = await this.client.call<EmbeddingsAnswer>('embeddings', { model: this.options.endpoint.model, input: batch, encoding_format: 'float' }, this.opts.timeoutMs);
          embeddingSeconds.observe({ outcome: 'ok' }, (performance.now() - started) / 1000);
          if (!Array.isArray(response.data) || response.data.length !== batch.length) {
            throw new ClassifiedError(`embeddings: asked for ${batch.length} vectors, got ${Array.isArray(response.data) ? response.data.length : 'no data array'}`, 'transient', 'embeddings_transient', { dependency });
          }
          for (const item of response.data) this.remember(batch[item.index], normalize(item.embedding as number[]));
          embeddedTexts.inc({ source: 'server' }, batch.length);
        } catch (error) {
          embeddingSeconds.observe({ outcome: 'error' }, (performance.now() - started) / 1000);
          throw error;
        }
      },
    );
  }

  private remember(text: string, vector: Float32Array): void {
    if (this.cache.size >= this.opts.cacheEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(text, vector);
  }
}

export function normalize(values: ArrayLike<number>): Float32Array {
  const v = Float32Array.from(values);
  let norm = 0;
  for (let i = 0; i < v.length; i++) norm += v[i] * v[i];
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}
