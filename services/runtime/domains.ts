/**
 * Domain packs: one folder per kind of problem under domains/ (domains/README.md). Each holds
 * `domain.yaml` (seed layout, default benchmarks, quality-gate thresholds, the paper's reference
 * figures), `prompts.yaml` (subject, few-shot examples, answer format) and `normalizer.yaml` (where
 * a solution states its final answer and how answers are made comparable).
 *
 * This is the I/O edge: it finds the folders by listing domains/ (a new domain is a new folder, no
 * edit elsewhere), reads and validates the files, and hands plain values to the pure core
 * (core/prompts buildPromptSet, core/answers, core/gates). A folder that lacks a file or holds a
 * bad one is an error naming the file, at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { checkNormalizerSpec, extractAnswer, type NormalizerSpec } from '../../core/answers/index.ts';
import { checkGateThresholds, type GateThresholds } from '../../core/gates/index.ts';
import { buildPromptSet, type PromptSet } from '../../core/prompts/index.ts';
import type { BenchmarkSpec } from './benchmarks.ts';
import { REPO_ROOT } from './config.ts';

export const DOMAINS_DIR = path.join(REPO_ROOT, 'domains');
export const DEFAULT_DOMAIN = 'competition-math';
export const DOMAIN_FILES = ['domain.yaml', 'prompts.yaml', 'normalizer.yaml'] as const;

export class DomainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DomainError';
  }
}

const range = z.strictObject({ min: z.number().int().min(0), max: z.number().int().min(0) });
export const gateThresholdsSchema = z.strictObject({
  problem_chars: range,
  solution_chars: range,
  repetition_ngram: z.number().int().min(1),
  max_repeated_share: z.number().min(0).max(1),
  max_answer_words: z.number().int().min(0),
});

const domainFileSchema = z.strictObject({
  description: z.string().min(1),
  seed_fields: z.strictObject({ problem: z.string().min(1), solution: z.string().min(1) }),
  benchmarks: z.array(
    z.strictObject({ source: z.string().min(1), file: z.string().min(1), text_field: z.string().min(1), id_field: z.string().min(1).optional(), ids_file: z.string().min(1).optional() }),
  ),
  gates: gateThresholdsSchema,
  // The paper's figures the reports compare against (GRIP, arXiv 2412.08864); null: none published.
  reference: z.strictObject({
    novelty_rate: z.number().min(0).max(1).nullable(),
    acceptance_by_hop: z.record(z.string(), z.number().min(0).max(1)),
    seed_similarity: z.strictObject({ min: z.number(), max: z.number() }).nullable(),
    source: z.string().min(1),
  }),
});

const promptsFileSchema = z.strictObject({
  subject: z.string().min(1),
  answer_instruction: z.string().min(1),
  answer_line: z.string().includes('{answer}', { message: 'answer_line must hold {answer}, where the final answer goes' }).optional(),
  kc_examples: z.array(z.strictObject({ problem: z.string().min(1), kcs: z.array(z.string().min(2)).min(1).max(5) })).min(1),
  problem_examples: z.array(z.string().min(1)).min(1),
});

export interface DomainPack {
  name: string;
  dir: string;
  description: string;
  seedFields: { problem: string; solution: string };
  benchmarks: BenchmarkSpec[];
  gates: GateThresholds;
  reference: z.infer<typeof domainFileSchema>['reference'];
  normalizer: NormalizerSpec;
  prompts: PromptSet;
}

/** The domain folders present (each a candidate pack; validated when loaded). */
export function listDomains(dir: string = DOMAINS_DIR): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

function readYaml<T>(file: string, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new DomainError(`${path.relative(REPO_ROOT, file)}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `not valid YAML: ${(error as Error).message}`}`);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new DomainError(`${path.relative(REPO_ROOT, file)}: ${result.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ')}`);
  }
  return result.data;
}

/** Loads and validates one domain pack; every problem is an error naming the file. */
export function loadDomain(name: string, dir: string = DOMAINS_DIR): DomainPack {
  const known = listDomains(dir);
  if (!known.includes(name)) throw new DomainError(`domain "${name}" not found: domains are the folders of ${path.relative(REPO_ROOT, dir) || dir} (${known.join(', ') || 'none'})`);
  const folder = path.join(dir, name);
  for (const f of DOMAIN_FILES) {
    if (!fs.existsSync(path.join(folder, f))) throw new DomainError(`${path.relative(REPO_ROOT, path.join(folder, f))}: missing (a domain folder holds ${DOMAIN_FILES.join(', ')})`);
  }
  const domain = readYaml(path.join(folder, 'domain.yaml'), domainFileSchema);
  const prompts = readYaml(path.join(folder, 'prompts.yaml'), promptsFileSchema);
  const normalizerFile = path.join(folder, 'normalizer.yaml');
  let normalizer: NormalizerSpec;
  let gates: GateThresholds;
  try {
    normalizer = checkNormalizerSpec(readYaml(normalizerFile, z.unknown()));
  } catch (error) {
    throw error instanceof DomainError ? error : new DomainError(`${path.relative(REPO_ROOT, normalizerFile)}: ${(error as Error).message}`);
  }
  try {
    gates = checkGateThresholds(domain.gates);
  } catch (error) {
    throw new DomainError(`${path.relative(REPO_ROOT, path.join(folder, 'domain.yaml'))}: ${(error as Error).message}`);
  }
  const fromRoot = (f: string) => (path.isAbsolute(f) ? f : path.join(REPO_ROOT, f));
  return {
    name,
    dir: folder,
    description: domain.description,
    seedFields: domain.seed_fields,
    benchmarks: domain.benchmarks.map((b) => ({ source: b.source, file: fromRoot(b.file), textField: b.text_field, idField: b.id_field, idsFile: b.ids_file ? fromRoot(b.ids_file) : undefined })),
    gates,
    reference: domain.reference,
    normalizer,
    prompts: buildPromptSet(prompts),
  };
}

/** Loads every domain folder: a broken one stops the start, naming its file. */
export function loadAllDomains(dir: string = DOMAINS_DIR): DomainPack[] {
  return listDomains(dir).map((d) => loadDomain(d, dir));
}

/**
 * The first domain whose seed layout a record has: its seed fields hold text, and the solution
 * states its final answer where the domain's answers primarily are (\boxed{} for MATH, `####` for
 * GSM8K). null when none matches.
 */
export function domainOfRecord(record: Record<string, unknown>, packs: readonly DomainPack[]): DomainPack | null {
  return (
    packs.find((pack) => {
      const solution = record[pack.seedFields.solution];
      return typeof record[pack.seedFields.problem] === 'string' && typeof solution === 'string' && extractAnswer(solution, pack.normalizer.locations.slice(0, 1)) !== null;
    }) ?? null
  );
}
