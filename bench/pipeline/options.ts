/**
 * Flags of `npm run bench:pipeline`, validated up front: an unknown flag or a bad value is an error
 * naming it, before anything starts. Without flags the bench runs the whole matrix with the
 * shipped defaults; the `tuned` flags replace the defaults by hand-set values and label the run so.
 */
export interface PipelineBenchOptions {
  /** Only these cells (names as in the results, e.g. `16x200ms,overload-429`); default: all. */
  cells?: string[];
  /** Multiplies every cell's run length (0.5: a quicker, noisier matrix). */
  scale: number;
  /** Partitions of the bench's private topics. */
  partitions: number;
  /** Gives up on one cell's Kafka phase after this long. */
  timeoutS: number;
  /** Where the results JSON goes (relative to the repository root); the .md summary sits beside it. */
  out: string;
  /** Hand-set settings instead of the shipped defaults (the run is labelled `tuned`). */
  tuned: Partial<TunedSettings>;
}

export interface TunedSettings {
  /** runStage: messages handled at once. */
  concurrency: number;
  /** runStage: batches fetched and not yet committed. */
  maxInFlightBatches: number;
  /** runStage: records per poll (and so per batch). */
  maxBatchRecords: number;
  /** LlmClient: a fixed number of requests in flight per endpoint (no adaptation). */
  llmConcurrency: number;
}

export const DEFAULT_OPTIONS: PipelineBenchOptions = { scale: 1, partitions: 6, timeoutS: 300, out: 'bench/results/pipeline.json', tuned: {} };

const TUNED: Record<string, keyof TunedSettings> = {
  '--concurrency': 'concurrency',
  '--max-in-flight-batches': 'maxInFlightBatches',
  '--max-batch-records': 'maxBatchRecords',
  '--llm-concurrency': 'llmConcurrency',
};
const FLAGS = ['--cells', '--scale', '--partitions', '--timeout-s', '--out', ...Object.keys(TUNED)];

export class OptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionsError';
  }
}

export function usage(): string {
  return `usage: npm run bench:pipeline -- [--cells A,B] [--scale X] [--partitions N] [--timeout-s N] [--out FILE]\n  tuned (labelled so in the results): [${Object.keys(TUNED).map((f) => `${f} N`).join('] [')}]`;
}

/** Parses `--flag value` / `--flag=value` pairs over the defaults. */
export function parseOptions(argv: string[]): PipelineBenchOptions {
  const options: PipelineBenchOptions = { ...DEFAULT_OPTIONS, tuned: {} };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    if (!FLAGS.includes(flag)) throw new OptionsError(`unknown flag ${JSON.stringify(argv[i])}\n${usage()}`);
    const raw = inline ?? argv[++i];
    if (raw === undefined || raw.trim() === '') throw new OptionsError(`${flag}: missing value`);
    if (flag === '--out') options.out = raw;
    else if (flag === '--cells') options.cells = raw.split(',').map((c) => c.trim()).filter(Boolean);
    else if (flag === '--scale') {
      if (!/^\d*\.?\d+$/.test(raw) || Number(raw) <= 0) throw new OptionsError(`${flag}: expected a number > 0, got ${JSON.stringify(raw)}`);
      options.scale = Number(raw);
    } else {
      if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new OptionsError(`${flag}: expected an integer >= 1, got ${JSON.stringify(raw)}`);
      if (flag === '--partitions') options.partitions = Number(raw);
      else if (flag === '--timeout-s') options.timeoutS = Number(raw);
      else options.tuned[TUNED[flag]!] = Number(raw);
    }
  }
  return options;
}
