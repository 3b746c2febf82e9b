/**
 * `grip run`: the pipeline's stages in one process, with an in-process hand-off instead of Kafka
 * topics. It calls the very handlers the Kafka services call (services/<stage>/handler.ts) and the
 * same core library, so what works here works at scale.
 *
 * Reproducible and resumable by construction: every model answer goes to an on-disk cache keyed by
 * deterministic ids the moment it arrives; order-sensitive steps (KC registry merges, dedup of
 * accepted problems) run in input order whatever the concurrency; timestamps come from the run's
 * first start. A run killed at any point and started again replays its cached answers for free,
 * continues where it stopped, and writes the same files as an uninterrupted run. Output files are
 * written once, at the end, atomically (temp file + rename): nothing is ever written twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createKcRegistry } from '../../core/concepts/index.ts';
import { createDeduper } from '../../core/dedup/index.ts';
import { createNgramIndex } from '../../core/decontam/index.ts';
import type { FieldMapping } from '../../core/seeds/index.ts';
import type { Candidate, Combination, Seed, SeedConcepts, Verdict } from '../../schemas/generated/types.ts';
import { extractConcepts, llmSynonymCheck } from '../../services/concept-extractor/handler.ts';
import { graphStageFrom } from '../../services/concept-graph/stage.ts';
import { commitVerdict, judgeCandidate, judgeModelsFrom, judgeSettingsFrom } from '../../services/judge/handler.ts';
import { synthesizeProblem } from '../../services/problem-synth/handler.ts';
import { loadBenchmarks } from '../../services/runtime/benchmarks.ts';
import { EmbeddingsClient } from '../../services/runtime/embeddings.ts';
import { FileLlmCache } from '../../services/runtime/file-llm-cache.ts';
import type { HandlerResult } from '../../services/runtime/handler.ts';
import { LlmClient, LlmError } from '../../services/runtime/llm.ts';
import { writeOutputs, type DlqRecord } from './outputs.ts';
import { runInFlight } from '../../services/runtime/llm-flow.ts';
import { mapOrdered, OrderedGate } from './pool.ts';
import type { Progress } from './progress.ts';
import { buildReport, type RunReport } from './report.ts';
import { readSeedFile } from './seeds-file.ts';
import type { RunSettings } from '../../services/runtime/settings.ts';

export interface RunOptions {
  seedsFile: string;
  outDir: string;
  fields: FieldMapping;
  limit?: number;
  strict?: boolean;
  settings: RunSettings;
  progress: Progress;
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

/** Turns a handler result into its value, or a DLQ record for the run's dlq.jsonl. */
function route<T>(result: HandlerResult<T>, stage: string, input: { id: string; payload: unknown }, dlq: DlqRecord[]): T | undefined {
  if (result.kind === 'ok') return result.value;
  dlq.push({ stage, id: input.id, reason: result.reason, detail: result.kind === 'dlq' ? result.detail : result.reason, input: input.payload });
  return undefined;
}

export async function runPipeline(opts: RunOptions): Promise<RunReport> {
  const t0 = performance.now();
  const { settings, progress } = opts;
  const manifest = prepareOutDir(opts.outDir, opts.seedsFile);
  const now = () => manifest.started_at;
  const cache = new FileLlmCache(path.join(opts.outDir, STATE_DIR, 'llm-cache.jsonl'));
  const llm = new LlmClient({ endpoints: settings.endpoints, cache, concurrency: settings.concurrency });
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

    // Concepts: model calls run concurrently, registry merges in seed order.
    const registry = createKcRegistry({
      sameThreshold: settings.kc_merge.same,
      synonymThreshold: settings.kc_merge.synonym,
      maxSynonymChecks: settings.kc_merge.max_synonym_checks,
      search: 'exact',
      seed: settings.seed,
      embed: (names) => embeddings.embed(names),
      synonymCheck: llmSynonymCheck(llm),
    });
    const gate = new OrderedGate();
    progress.stage('concepts', seeds.length);
    const conceptResults = await mapOrdered(seeds, runInFlight(settings.concurrency), async (seed, i) => {
      let passed = false;
      try {
        const result = await extractConcepts(seed, {
          llm,
          now,
          registry: { addMany: (inputs) => gate.pass(i, () => ((passed = true), registry.addMany(inputs))) },
        });
        return route(result, 'concept-extractor', { id: seed.seed_id, payload: seed }, dlq);
      } finally {
        if (!passed) await gate.skip(i);
        progress.tick('concepts');
      }
    });
    const concepts = conceptResults.filter((c): c is SeedConcepts => c !== undefined);

    // Graph and combinations.
    const graphStage = graphStageFrom(settings);
    for (const c of concepts) graphStage.ingest(c);
    const combos: Combination[] = graphStage.sample(settings.combinations, now());
    progress.total('kcs', registry.size);
    progress.total('combinations', combos.length);

    // Candidates.
    progress.stage('candidates', combos.length);
    const candidates = (
      await mapOrdered(combos, runInFlight(settings.concurrency), async (combo) => {
        try {
          return route(await synthesizeProblem(combo, { llm, now }), 'problem-synth', { id: combo.combo_id, payload: combo }, dlq);
        } finally {
          progress.tick('candidates');
        }
      })
    ).filter((c): c is Candidate => c !== undefined);

    // Verdicts: judged concurrently, committed (final dedup) in candidate order.
    const judgeSettings = judgeSettingsFrom(settings);
    // The default sets live in ../shared/data of this workspace; elsewhere they may be absent, and a
    // run without them still works (contamination figures then cover what was found).
    const benchmarkSpecs = settings.defaultBenchmarks
      ? settings.benchmarks.filter((b) => fs.existsSync(b.file) || (progress.warn(`decontamination set ${b.source} not found at ${b.file}; skipped`), false))
      : settings.benchmarks;
    const benchmarkRecords = await loadBenchmarks(benchmarkSpecs);
    const decontam = createNgramIndex(benchmarkRecords);
    const deduper = createDeduper({ threshold: settings.dedup.threshold, seed: settings.seed });
    for (const seed of seeds) deduper.addReference(seed.seed_id, seed.problem);
    const judgeModels = judgeModelsFrom(settings);
    progress.stage('verdicts', candidates.length);
    const judged = await mapOrdered(candidates, runInFlight(settings.concurrency), async (candidate) => {
      try {
        return route(
          await judgeCandidate(candidate, { llm, settings: judgeSettings, decontam, deduper, judgeModels, now }),
          'judge',
          { id: candidate.candidate_id, payload: candidate },
          dlq,
        );
      } finally {
        progress.tick('verdicts');
      }
    });
    const verdicts = judged.filter((v): v is Verdict => v !== undefined).map((v) => commitVerdict(v, deduper));
    const accepted = verdicts.filter((v) => v.accepted);
    progress.total('accepted', accepted.length);

    // Similarity of each accepted problem to its seeds (the paper: 0.55-0.65, none above 0.9).
    const seedById = new Map(seeds.map((s) => [s.seed_id, s]));
    const similarities: number[] = [];
    if (accepted.length > 0) {
      const seedTexts = [...new Set(accepted.flatMap((v) => v.lineage.seed_ids.filter((id) => seedById.has(id))))];
      const vectors = await embeddings.embed([...accepted.map((v) => v.problem), ...seedTexts.map((id) => seedById.get(id)!.problem)]);
      const seedVector = new Map(seedTexts.map((id, i) => [id, vectors[accepted.length + i]]));
      accepted.forEach((v, i) => {
        let best = -1;
        for (const id of v.lineage.seed_ids) {
          const sv = seedVector.get(id);
          if (sv) best = Math.max(best, dot(vectors[i], sv));
        }
        if (best > -1) similarities.push(best);
      });
    }

    const report = buildReport({
      seedsRead: seedFile.lines,
      seeds,
      duplicateSeeds: seedFile.duplicates,
      concepts,
      kcIds: registry.ids(),
      graph: graphStage.graph.stats(),
      combos,
      candidates,
      verdicts,
      dlq,
      seedSimilarities: similarities,
      contamination: decontam.contaminationRates(accepted.map((v) => v.problem)),
      llmUsage: llm.usageByStage(),
      wallSeconds: (performance.now() - t0) / 1000,
    });
    writeOutputs(opts.outDir, { verdicts, dlq, report });
    return report;
  } catch (error) {
    if (error instanceof LlmError && error.retriable) {
      throw new RunError(
        `model endpoint unreachable for stage ${error.stage}: ${error.message}\n` +
          `Answers received so far are kept in ${path.join(opts.outDir, STATE_DIR)}; run the same command again to resume.`,
      );
    }
    throw error;
  } finally {
    cache.close();
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
