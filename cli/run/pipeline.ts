/**
 * `grip run`: the pipeline's stages in one process. It starts the very stage declarations the Kafka
 * services start (services/stages.ts, through startStage and runStage) on the in-process transport
 * instead of a broker, so the two cannot drift; this file keeps only what is `grip run`'s own: the
 * seed file, the output folder, resume, and the report.
 *
 * Reproducible and resumable by construction: every model answer goes to an on-disk cache keyed by
 * deterministic ids the moment it arrives; every topic has one partition here, so the ordered steps
 * (KC registry merges, the judge's final dedup) see their input in seed order whatever the
 * concurrency; stages run one after the other, each until its input is drained (the graph samples
 * from every seed's concepts); timestamps come from the run's first start. A run killed at any
 * point and started again replays its cached answers for free, continues where it stopped, and
 * writes the same files as an uninterrupted run. Output files are written once, at the end,
 * atomically (temp file + rename): nothing is ever written twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createNgramIndex } from '../../core/decontam/index.ts';
import { KcGraph } from '../../core/graph/index.ts';
import type { FieldMapping } from '../../core/seeds/index.ts';
import type { Seed, SeedConcepts, TopicName, TopicValues, Verdict } from '../../schemas/generated/types.ts';
import { loadTopics } from '../../schemas/catalog.ts';
import { PIPELINE_STAGES } from '../../services/stages.ts';
import { loadDecontamination } from '../../services/runtime/benchmarks.ts';
import { REPO_ROOT } from '../../services/runtime/config.ts';
import { EmbeddingsClient } from '../../services/runtime/embeddings.ts';
import { FileLlmCache } from '../../services/runtime/file-llm-cache.ts';
import { DLQ_HEADERS, ensureTopics, InProcessTransport, localSerde, type Serde } from '../../services/runtime/kafka/index.ts';
import { LlmClient, LlmError } from '../../services/runtime/llm.ts';
import { jsonLogger } from '../../services/runtime/log.ts';
import type { RunSettings } from '../../services/runtime/settings.ts';
import { groupOf, startStage, type StageDeclaration, type StageSetupContext } from '../../services/runtime/stage.ts';
import { writeOutputs } from './outputs.ts';
import type { Progress } from './progress.ts';
import { buildReport, type DlqRecord, type RunReport } from './report.ts';
import { readSeedFile } from './seeds-file.ts';

export interface RunOptions {
  seedsFile: string;
  outDir: string;
  fields: FieldMapping;
  limit?: number;
  strict?: boolean;
  settings: RunSettings;
  progress: Progress;
  /** The stages to run, upstream first (default: the pipeline's; recipes add their own). */
  stages?: readonly StageDeclaration[];
}

export class RunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunError';
  }
}

interface RunManifest {
  started_at: number;
  seeds_file: string;
}

export const STATE_DIR = '.grip';

/** Creates DIR and its state folder, proves it writable, and returns the run's fixed start time. */
function prepareOutDir(outDir: string, seedsFile: string): RunManifest {
  const stateDir = path.join(outDir, STATE_DIR);
  try {
    fs.mkdirSync(stateDir, { recursive: true });
    fs.accessSync(outDir, fs.constants.W_OK);
  } catch (error) {
    throw new RunError(`output folder ${outDir} is not writable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const manifestFile = path.join(stateDir, 'run.json');
  if (fs.existsSync(manifestFile)) {
    try {
      return JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as RunManifest;
    } catch {
      // A manifest torn by a kill during its first write: start it again.
    }
  }
  const manifest: RunManifest = { started_at: Date.now(), seeds_file: path.resolve(seedsFile) };
  fs.writeFileSync(`${manifestFile}.tmp`, JSON.stringify(manifest));
  fs.renameSync(`${manifestFile}.tmp`, manifestFile);
  return manifest;
}


/**
 * The run's sampling rule in the graph stage's terms: `combinations` in all, sampled once, after
 * every seed's concepts are in the graph (the stage samples when its input is drained).
 */
function runSettings(settings: RunSettings): RunSettings {
  const n = settings.combinations;
  return { ...settings, services: { ...settings.services, combinations_per_seed: n, max_combinations: n, sample_every_seeds: 0, sample_every_seconds: 0 } };
}

export async function runPipeline(opts: RunOptions): Promise<RunReport> {
  const t0 = performance.now();
  const { progress } = opts;
  const settings = runSettings(opts.settings);
  const stages = opts.stages ?? PIPELINE_STAGES;
  const manifest = prepareOutDir(opts.outDir, opts.seedsFile);
  const now = () => manifest.started_at;
  const cache = new FileLlmCache(path.join(opts.outDir, STATE_DIR, 'llm-cache.jsonl'));
  const llm = new LlmClient({ endpoints: settings.endpoints, cache, concurrency: settings.concurrency, patienceMs: RUN_LLM_PATIENCE_MS });
  const embeddings = new EmbeddingsClient({ endpoint: settings.embeddingsEndpoint });
  const dlq: DlqRecord[] = [];

  try {
    // Seeds.
    const seedFile = await readSeedFile(opts.seedsFile, opts.fields, { limit: opts.limit, strict: opts.strict });
    for (const bad of seedFile.rejected) {
      progress.warn(`${opts.seedsFile}:${bad.line}: ${bad.message} (skipped)`);
      dlq.push({ stage: 'seed-ingest', id: `line:${bad.line}`, reason: bad.reason, detail: bad.message, input: bad.raw });
    }
    if (seedFile.seeds.length === 0) throw new RunError(`${opts.seedsFile}: no valid seed in ${seedFile.lines} lines`);
    const seeds: Seed[] = seedFile.seeds.map((s) => ({
      seed_id: s.seed_id,
      problem: s.problem,
      solution: s.solution,
      source: path.basename(opts.seedsFile),
      source_id: s.source_id ?? `line:${s.line}`,
      ingested_at: now(),
    }));
    progress.total('seeds', seeds.length);

    // The stages, on the in-process transport, one after the other.
    const transport = new InProcessTransport({ now });
    const serde = localSerde();
    await ensureTopics(transport.admin());
    await produce(transport, serde, 'grip.seeds', seeds);
    const log = jsonLogger('grip-run', devNull);
    const ctx: StageSetupContext = { settings, transport, serde, log, now, llm: () => llm, embeddings: () => embeddings };
    for (const stage of stages) await runToEnd(stage, ctx, transport, progress);

    const read = <T extends TopicName>(topic: T) => decodeAll(transport, serde, topic);
    const concepts = await read('grip.concepts');
    const combos = await read('grip.pairs');
    const candidates = await read('grip.candidates');
    const verdicts = await read('grip.verdicts');
    dlq.push(...(await deadLetters(transport, serde)));
    const accepted = verdicts.filter((v) => v.accepted);
    progress.total('kcs', new Set(concepts.flatMap((c) => c.kcs.map((k) => k.kc_id))).size);
    progress.total('combinations', combos.length);
    progress.total('accepted', accepted.length);

    // Similarity of each accepted problem to its seeds (the paper: 0.55-0.65, none above 0.9).
    const similarities = await seedSimilarities(accepted, seeds, embeddings);
    const decontam = await loadDecontamination(settings);
    const items = decontam?.itemsBySource() ?? {};
    const benchmarkSets = settings.benchmarks.map((b) => ({ source: b.source, file: path.relative(REPO_ROOT, b.file), items: items[b.source] ?? 0 }));
    const report = buildReport({
      domain: settings.domainPack.name,
      benchmarkSets,
      gatesEnabled: settings.gates.enabled,
      selfConsistency: settings.judging.self_consistency,
      seedsRead: seedFile.lines,
      seeds,
      duplicateSeeds: seedFile.duplicates,
      concepts,
      kcIds: [...new Set(concepts.flatMap((c) => c.kcs.map((k) => k.kc_id)))],
      graph: graphOf(concepts).stats(),
      combos,
      candidates,
      verdicts,
      dlq,
      seedSimilarities: similarities,
      contamination: (decontam ?? createNgramIndex([])).contaminationRates(accepted.map((v) => v.problem)),
      llmUsage: llm.usageByStage(),
      wallSeconds: (performance.now() - t0) / 1000,
    });
    writeOutputs(opts.outDir, { verdicts, dlq, report });
    return report;
  } catch (error) {
    const cause = error instanceof LlmError ? error : (error as { cause?: unknown })?.cause;
    if (cause instanceof LlmError && (cause.retriable || cause.kind === 'configuration')) {
      throw new RunError(
        `${cause.kind === 'configuration' ? 'model endpoint refuses the configuration' : 'model endpoint unreachable'} for stage ${cause.stage}: ${cause.message}\n` +
          `Answers received so far are kept in ${path.join(opts.outDir, STATE_DIR)}; run the same command again to resume.`,
      );
    }
    throw error;
  } finally {
    cache.close();
  }
}

/** The stage's own logs go nowhere in `grip run`: the progress bars and warnings are its output. */
const devNull = { write: () => true } as unknown as NodeJS.WritableStream;

/**
 * How long `grip run` waits out a model server that is down: each call retries for
 * RUN_LLM_PATIENCE_MS, each message is tried 1 + RUN_RETRIES times (about 30 s in all), then the
 * run stops and says to resume (the answers so far are kept). A service waits for ever instead.
 */
const RUN_RETRIES = 2;
const RUN_LLM_PATIENCE_MS = 10_000;

/** Runs one stage until it has handled everything in its input topic, then stops it. */
async function runToEnd(stage: StageDeclaration, ctx: StageSetupContext, transport: InProcessTransport, progress: Progress): Promise<void> {
  progress.stage(stage.name, transport.records(stage.input).length);
  // A person waits for `grip run`: a refused configuration stops it at once, with the reason.
  const started = await startStage(stage, ctx, { maxRetries: RUN_RETRIES, onConfigurationError: 'fail' });
  const crashed = started.done.then(
    () => new Error(`stage ${stage.name} stopped before it handled its input`),
    (error: unknown) => error,
  );
  const admin = transport.admin();
  let ticked = 0n;
  try {
    for (;;) {
      // Handled = committed: runStage commits a message only after its outputs were produced.
      const [ends, committed] = await Promise.all([admin.endOffsets([stage.input]), admin.groupOffsets(groupOf(stage), [stage.input])]);
      const handled = committed.reduce((sum, c) => sum + c.offset, 0n);
      for (; ticked < handled; ticked++) progress.tick(stage.name);
      if (ends.every((e) => (committed.find((c) => c.partition === e.partition)?.offset ?? 0n) >= e.offset)) break;
      const outcome = await Promise.race([crashed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 50))]);
      if (outcome !== undefined) throw outcome;
    }
  } finally {
    await started.stop();
  }
  await started.done; // a crash while stopping still counts
}

async function produce<T extends TopicName>(transport: InProcessTransport, serde: Serde, topic: T, values: Array<TopicValues[T]>): Promise<void> {
  const records = await Promise.all(values.map(async (value) => ({ topic, key: serde.keyOf(topic, value), value: await serde.encode(topic, value) })));
  await transport.producer().send(records);
}

async function decodeAll<T extends TopicName>(transport: InProcessTransport, serde: Serde, topic: T): Promise<Array<TopicValues[T]>> {
  return Promise.all(transport.records(topic).map(async (r) => (await serde.decode(topic, r.value)) as TopicValues[T]));
}

/** Every stage's dead letters, as dlq.jsonl rows: stage, input id (its key), reason, detail, input. */
async function deadLetters(transport: InProcessTransport, serde: Serde): Promise<DlqRecord[]> {
  const out: DlqRecord[] = [];
  for (const spec of loadTopics().values()) {
    for (const r of transport.records(spec.dlq)) {
      const header = (name: string) => r.headers[name]?.toString('utf8') ?? '';
      const input = await serde.decode(spec.topic, r.value).catch(() => r.value?.toString('utf8') ?? null);
      out.push({ stage: header(DLQ_HEADERS.stage), id: r.key?.toString('utf8') ?? '', reason: header(DLQ_HEADERS.reason), detail: header(DLQ_HEADERS.detail), input });
    }
  }
  return out;
}

function graphOf(concepts: SeedConcepts[]): KcGraph {
  const graph = new KcGraph();
  for (const c of concepts) if (c.kcs.length > 0 && !graph.hasSeed(c.seed_id)) graph.addSeed(c.seed_id, c.kcs.map((k) => k.kc_id));
  return graph;
}

async function seedSimilarities(accepted: Verdict[], seeds: Seed[], embeddings: EmbeddingsClient): Promise<number[]> {
  if (accepted.length === 0) return [];
  const seedById = new Map(seeds.map((s) => [s.seed_id, s]));
  const seedTexts = [...new Set(accepted.flatMap((v) => v.lineage.seed_ids.filter((id) => seedById.has(id))))];
  const vectors = await embeddings.embed([...accepted.map((v) => v.problem), ...seedTexts.map((id) => seedById.get(id)!.problem)]);
  const seedVector = new Map(seedTexts.map((id, i) => [id, vectors[accepted.length + i]]));
  const similarities: number[] = [];
  accepted.forEach((v, i) => {
    let best = -1;
    for (const id of v.lineage.seed_ids) {
      const sv = seedVector.get(id);
      if (sv) best = Math.max(best, dot(vectors[i], sv));
    }
    if (best > -1) similarities.push(best);
  });
  return similarities;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
