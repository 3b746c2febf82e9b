/**
 * Pipeline settings (`grip run --config`, and the services' GRIP_CONFIG): a YAML file (--config) validated strictly, then command-line flags on top.
 * Errors name the field, what was expected and what was given, before any model is called.
 * Connection defaults come from the one config module (services/runtime/config.ts).
 */
import fs from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import { RELATIONS } from '../../core/combos/index.ts';
import { DEFAULTS, llmEndpointOf, type GripConfig, type LlmEndpoint } from './config.ts';
import type { BenchmarkSpec } from './benchmarks.ts';
import { DEFAULT_DOMAIN, gateThresholdsSchema, loadAllDomains, loadDomain, type DomainPack } from './domains.ts';
import { AUTO_CEILING } from './limiters.ts';

const endpoint = z.strictObject({
  base_url: z.url({ protocol: /^https?$/ }).optional(),
  model: z.string().min(1).optional(),
  api_key: z.string().optional(),
});

const unit = z.number().min(0).max(1);
const CONCURRENCY_EXPECTED = `expected "auto" or an integer from 1 to ${AUTO_CEILING}`;

/** Default of `judging.self_consistency`; why: README, "Answer checks" (measured calls per accepted pair). */
export const SELF_CONSISTENCY_DEFAULT = true;

export const runFileSchema = z.strictObject({
  // The domain pack (a folder of domains/): prompts, answer normalizer, gate thresholds, benchmarks.
  domain: z.string().min(1).default(DEFAULT_DOMAIN),
  seed: z.number().int().default(1),
  // 'auto': each endpoint's adaptive limiter finds what it can take (limiter.ts); a number is a ceiling.
  concurrency: z.union([z.literal('auto'), z.number().int({ error: CONCURRENCY_EXPECTED }).min(1, { error: CONCURRENCY_EXPECTED }).max(AUTO_CEILING, { error: CONCURRENCY_EXPECTED })], { error: CONCURRENCY_EXPECTED }).default('auto'),
  combinations: z.number().int().min(0).default(10),
  // Keys are LLM steps; which exist is known from the stage declarations (checked in resolveRunSettings).
  llm: endpoint.extend({ stages: z.record(z.string(), endpoint).default({}) }).default({ stages: {} }),
  embeddings: endpoint.default({}),
  // same/synonym default by embedding model (KC_MERGE_DEFAULTS): cosine scales differ between models.
  // search: how the registry finds a name's nearest KCs: every vector (exact) or SimHash-prefiltered
  // (simhash: recall 1.00 on the registry benchmark, ~20x faster at 100K KCs). Replicas must agree.
  kc_merge: z
    .strictObject({ same: unit.optional(), synonym: unit.optional(), max_synonym_checks: z.number().int().min(0).default(5), search: z.enum(['exact', 'simhash']).default('simhash') })
    .default({ max_synonym_checks: 5, search: 'simhash' }),
  sampling: z
    .strictObject({
      quotas: z.partialRecord(z.enum(RELATIONS), z.number().min(0)).optional(),
      min_weight: z.number().min(0).default(1),
      hub_fraction: unit.optional(),
      novel_only: z.boolean().default(false),
    })
    .default({ min_weight: 1, novel_only: false }),
  judging: z
    .strictObject({
      threshold: unit.default(0.85),
      weights: z.strictObject({ judge_1: z.number().min(0), judge_2: z.number().min(0), judge_3: z.number().min(0) }).default({ judge_1: 0.4, judge_2: 0.35, judge_3: 0.25 }),
      order: z.enum(['given', 'weight_desc']).default('weight_desc'),
      early_exit: z.boolean().default(true),
      // An independent second solve (LLM step `verify`) must agree with the final answer before the judges.
      self_consistency: z.boolean().default(SELF_CONSISTENCY_DEFAULT),
    })
    .default({ threshold: 0.85, weights: { judge_1: 0.4, judge_2: 0.35, judge_3: 0.25 }, order: 'weight_desc', early_exit: true, self_consistency: SELF_CONSISTENCY_DEFAULT }),
  // Quality gates before judging; thresholds default to the domain pack's (domains/<name>/domain.yaml).
  gates: gateThresholdsSchema.partial().extend({ enabled: z.boolean().default(true) }).strict().default({ enabled: true }),
  decontamination: z
    .strictObject({
      reject_at_words: z.number().int().min(1).default(13),
      sets: z.array(z.strictObject({ source: z.string().min(1), file: z.string().min(1), text_field: z.string().min(1), id_field: z.string().min(1).optional() })).optional(),
    })
    .default({ reject_at_words: 13 }),
  dedup: z.strictObject({ threshold: unit.default(0.8) }).default({ threshold: 0.8 }),
  // Only the Kafka services read this section (`grip run` synthesizes `combinations` in one go).
  services: z
    .strictObject({
      // concept-graph: combinations each seed with KCs earns (once per seed; owed across restarts)...
      combinations_per_seed: z.number().int().min(0).default(5),
      // ...at most this many in all (counted from grip.pairs, across restarts); 0: no limit.
      max_combinations: z.number().int().min(0).default(0),
      // concept-graph samples what it owes once it has handled all its input (the fullest graph), or,
      // under a steady inflow, after this many new seeds or seconds since its last sample (0: never).
      sample_every_seeds: z.number().int().min(0).default(200),
      sample_every_seconds: z.number().min(0).default(30),
    })
    .default({ combinations_per_seed: 5, max_combinations: 0, sample_every_seeds: 200, sample_every_seconds: 30 }),
});

export type RunFile = z.infer<typeof runFileSchema>;

export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

/**
 * KC merge thresholds per embedding model. The paper's 0.90 / 0.70 are for BGE-M3. The local stack's
 * multilingual-e5-small puts unrelated concept names at cosine 0.80-0.88 ("perimeter" vs "area"
 * 0.86, "distance formula" vs "quadratic formula" 0.90) and plural variants at 0.95, so it needs
 * its own: measured in this repo's README. Unknown models get the paper's values.
 */
export const KC_MERGE_DEFAULTS: Record<string, { same: number; synonym: number }> = {
  'BAAI/bge-m3': { same: 0.9, synonym: 0.7 },
  [DEFAULTS.embeddingsModel]: { same: 0.97, synonym: 0.93 },
};
const PAPER_KC_MERGE = { same: 0.9, synonym: 0.7 };

export interface RunSettings extends Omit<RunFile, 'kc_merge' | 'gates'> {
  kc_merge: { same: number; synonym: number; max_synonym_checks: number; search: 'exact' | 'simhash' };
  /** The domain's thresholds with the settings file's on top. */
  gates: z.infer<typeof gateThresholdsSchema> & { enabled: boolean };
  domainPack: DomainPack;
  /** Endpoint of every LLM step the stages declare. */
  endpoints: Record<string, LlmEndpoint>;
  embeddingsEndpoint: LlmEndpoint;
  benchmarks: BenchmarkSpec[];
  /** The benchmark sets are the domain's defaults (shipped in data/benchmarks); none configured: `sets: []`. */
  defaultBenchmarks: boolean;
}

function describeIssue(issue: z.core.$ZodIssue, source: string): string {
  const where = issue.path.length ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') return `${source}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${[...issue.path, k].join('.')}"`).join(', ')}`;
  return `${source}: ${where}: ${issue.message}`;
}

/** A YAML key left empty (or holding only comments) reads as null: treat it as not set. */
function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, dropNulls(v)]));
  }
  return value;
}

/** Parses a settings object (from YAML), naming every bad field. */
export function parseRunFile(value: unknown, source = 'config'): RunFile {
  const result = runFileSchema.safeParse(dropNulls(value ?? {}));
  if (!result.success) throw new SettingsError(result.error.issues.map((i) => describeIssue(i, source)).join('\n'));
  const { kc_merge, judging } = result.data;
  if (kc_merge.synonym !== undefined && kc_merge.same !== undefined && kc_merge.synonym > kc_merge.same) throw new SettingsError(`${source}: kc_merge.synonym (${kc_merge.synonym}) must not exceed kc_merge.same (${kc_merge.same})`);
  if (Object.values(judging.weights).every((w) => w === 0)) throw new SettingsError(`${source}: judging.weights: at least one weight must be above 0`);
  return result.data;
}

export function readRunFile(file: string): RunFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new SettingsError(`${file}: cannot read the config file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let value: unknown;
  try {
    value = YAML.parse(text);
  } catch (error) {
    throw new SettingsError(`${file}: not valid YAML: ${(error as Error).message}`);
  }
  return parseRunFile(value, file);
}

export interface RunFlags {
  domain?: string;
  llmBaseUrl?: string;
  llmModel?: string;
  seed?: number;
  combinations?: number;
  concurrency?: number;
}

/**
 * Settings file + flags + connection config (environment) -> everything the run needs. `llmSteps`:
 * the LLM steps the stage declarations call (services/stages.ts); `llm.stages` may name no other.
 */
export function resolveRunSettings(file: RunFile, flags: RunFlags, config: GripConfig, llmSteps: readonly string[]): RunSettings {
  const unknownSteps = Object.keys(file.llm.stages).filter((step) => !llmSteps.includes(step));
  if (unknownSteps.length > 0) throw new SettingsError(`llm.stages: unknown step${unknownSteps.length > 1 ? 's' : ''} ${unknownSteps.map((s) => `"${s}"`).join(', ')} (steps: ${llmSteps.join(', ')})`);
  const pick = (e: z.infer<typeof endpoint> | undefined, fallback: LlmEndpoint): LlmEndpoint => ({
    baseUrl: (e?.base_url ?? fallback.baseUrl).replace(/\/+$/, ''),
    model: e?.model ?? fallback.model,
    apiKey: e?.api_key ?? fallback.apiKey,
  });
  const endpoints = Object.fromEntries(
    llmSteps.map((stage) => {
      const fromEnv = llmEndpointOf(config, stage);
      const base = pick(file.llm, fromEnv);
      const flagged = { ...base, ...(flags.llmBaseUrl ? { baseUrl: flags.llmBaseUrl.replace(/\/+$/, '') } : {}), ...(flags.llmModel ? { model: flags.llmModel } : {}) };
      return [stage, pick(file.llm.stages[stage], flagged)];
    }),
  ) as Record<string, LlmEndpoint>;
  const embeddingsEndpoint = pick(file.embeddings, config.embeddings);
  // Every domain folder is validated at start (a broken one is an error naming its file), then the chosen one used.
  const wanted = flags.domain ?? file.domain;
  const domainPack = loadAllDomains().find((d) => d.name === wanted) ?? loadDomain(wanted);
  const benchmarks = file.decontamination.sets
    ? file.decontamination.sets.map((s) => ({ source: s.source, file: s.file, textField: s.text_field, idField: s.id_field }))
    : domainPack.benchmarks;
  const { enabled, ...gateOverrides } = file.gates;
  const mergeDefaults = KC_MERGE_DEFAULTS[embeddingsEndpoint.model] ?? PAPER_KC_MERGE;
  const kcMerge = {
    same: file.kc_merge.same ?? mergeDefaults.same,
    synonym: file.kc_merge.synonym ?? Math.min(mergeDefaults.synonym, file.kc_merge.same ?? mergeDefaults.same),
    max_synonym_checks: file.kc_merge.max_synonym_checks,
    search: file.kc_merge.search,
  };
  return {
    ...file,
    domain: domainPack.name,
    domainPack,
    gates: { ...domainPack.gates, ...gateOverrides, enabled },
    kc_merge: kcMerge,
    seed: flags.seed ?? file.seed,
    combinations: flags.combinations ?? file.combinations,
    concurrency: flags.concurrency ?? file.concurrency,
    endpoints,
    embeddingsEndpoint,
    benchmarks,
    defaultBenchmarks: !file.decontamination.sets,
  };
}
