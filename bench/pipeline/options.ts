/**
 * Flags of `npm run bench:pipeline`, validated up front: an unknown flag or a bad value is an error
 * naming it, before anything starts.
 */
export interface PipelineBenchOptions {
  /** Fixed latency of every chat completion of the fake endpoint. */
  latencyMs: number;
  /** Requests the fake endpoint serves at once; more wait in its queue. */
  slots: number;
  /** Requests sent while saturating the endpoint directly (the capacity phase). */
  capacityRequests: number;
  /** grip.pairs messages sent through Kafka (3 LLM requests each). */
  messages: number;
  /** Partitions of the bench's private topics. */
  partitions: number;
  /** runStage: messages handled at once. */
  concurrency: number;
  /** runStage: batches fetched and not yet committed. */
  maxInFlightBatches: number;
  /** runStage: records per poll (and so per batch). */
  maxBatchRecords: number;
  /** LlmClient: requests in flight to the endpoint (also used by the capacity phase). */
  llmConcurrency: number;
  /** Gives up on the Kafka phase after this long. */
  timeoutS: number;
  /** Where the results JSON goes (relative to the repository root). */
  out: string;
}

export const DEFAULT_OPTIONS: PipelineBenchOptions = {
  latencyMs: 50,
  slots: 16,
  capacityRequests: 3000,
  messages: 2000,
  partitions: 6,
  concurrency: 64,
  maxInFlightBatches: 8,
  maxBatchRecords: 100,
  llmConcurrency: 32,
  timeoutS: 300,
  out: 'bench/results/pipeline.json',
};

const FLAGS: Record<string, keyof PipelineBenchOptions> = {
  '--latency-ms': 'latencyMs',
  '--slots': 'slots',
  '--capacity-requests': 'capacityRequests',
  '--messages': 'messages',
  '--partitions': 'partitions',
  '--concurrency': 'concurrency',
  '--max-in-flight-batches': 'maxInFlightBatches',
  '--max-batch-records': 'maxBatchRecords',
  '--llm-concurrency': 'llmConcurrency',
  '--timeout-s': 'timeoutS',
  '--out': 'out',
};

export class OptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionsError';
  }
}

export function usage(): string {
  return `usage: npm run bench:pipeline -- [${Object.keys(FLAGS).map((f) => `${f} ${f === '--out' ? 'FILE' : 'N'}`).join('] [')}]`;
}

/** Parses `--flag value` / `--flag=value` pairs over the defaults. */
export function parseOptions(argv: string[]): PipelineBenchOptions {
  const options: PipelineBenchOptions = { ...DEFAULT_OPTIONS };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2) as [string, string | undefined];
    const key = FLAGS[flag];
    if (!key) throw new OptionsError(`unknown flag ${JSON.stringify(argv[i])}\n${usage()}`);
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new OptionsError(`${flag}: missing value`);
    if (key === 'out') {
      if (raw.trim() === '') throw new OptionsError(`${flag}: expected a file path`);
      options.out = raw;
      continue;
    }
    // latency 0 is allowed (an endpoint as fast as the machine); every count must be at least 1
    const min = key === 'latencyMs' ? 0 : 1;
    if (!/^\d+$/.test(raw) || Number(raw) < min) throw new OptionsError(`${flag}: expected an integer >= ${min}, got ${JSON.stringify(raw)}`);
    options[key] = Number(raw);
  }
  return options;
}
