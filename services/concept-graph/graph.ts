/**
 * concept-graph: keeps the KC relation graph from the stream of seed concepts and samples
 * combinations from it (the paper's steps 3-4). Stateful by nature: it owns the graph and the
 * sampler, whose yielded-key set makes every canonical key come out once.
 */
import { Counter } from 'prom-client';
import { createSampler, SAMPLER_STATE_VERSION, type Combination as SampledCombination, type Sampler, type SamplerOptions } from '../../core/combos/index.ts';
import { GRAPH_FORMAT_VERSION, KcGraph, KEY_SEPARATOR, restoreGraph, serializeGraph } from '../../core/graph/index.ts';
import { shortHash } from '../../core/util/hash.ts';
import type { Combination, SeedConcepts } from '../../schemas/generated/types.ts';
import { dlq, ok, type HandlerResult } from '../runtime/handler.ts';
import type { Logger } from '../runtime/log.ts';
import type { RunSettings } from '../runtime/settings.ts';

const invalidMessages = new Counter({
  name: 'grip_graph_invalid_messages_total',
  help: 'Messages the KC graph cannot take (malformed KC or seed ids), by topic and where (stage: dead-lettered; rebuild: skipped at start)',
  labelNames: ['topic', 'where'] as const,
});

/** Most KCs in a combination (the sampler's limit). */
const MAX_COMBINATION_KCS = 8;

/** Why a KC id cannot be a graph node (the graph joins ids with KEY_SEPARATOR into keys), or null. */
function badKcId(id: unknown): string | null {
  if (typeof id !== 'string' || id.trim() === '') return `KC id ${JSON.stringify(id)} is empty or not a string`;
  if (id.includes(KEY_SEPARATOR)) return `KC id ${JSON.stringify(id)} contains the key separator "${KEY_SEPARATOR}"`;
  return null;
}

/**
 * Checks a concepts message at the edge, before it touches the graph: a malformed id would make
 * the graph throw here and again on every rebuild at start (a crash loop). `dlq` names the problem.
 */
export function validateConcepts(concepts: SeedConcepts): HandlerResult<SeedConcepts> {
  if (typeof concepts.seed_id !== 'string' || concepts.seed_id.trim() === '') return dlq('invalid_concepts', `seed id ${JSON.stringify(concepts.seed_id)} is empty`);
  for (const kc of concepts.kcs) {
    const problem = badKcId(kc.kc_id);
    if (problem) return dlq('invalid_concepts', `seed ${concepts.seed_id}: ${problem}`);
  }
  return ok(concepts);
}

function badCombination(combo: Pick<Combination, 'kc_ids'>): string | null {
  if (combo.kc_ids.length === 0 || combo.kc_ids.length > MAX_COMBINATION_KCS) return `${combo.kc_ids.length} KC ids, expected 1-${MAX_COMBINATION_KCS}`;
  for (const id of combo.kc_ids) {
    const problem = badKcId(id);
    if (problem) return problem;
  }
  return null;
}

/** Seeds named in a combination's lineage, at most: a hub KC can sit in thousands of seeds. */
const MAX_LINEAGE_SEEDS = 20;

/** The stage as the settings file (`sampling`, `seed`) describes it. */
export function graphStageFrom(settings: Pick<RunSettings, 'seed' | 'sampling'>): ConceptGraphStage {
  return new ConceptGraphStage(samplerOptionsFrom(settings));
}

export function samplerOptionsFrom(settings: Pick<RunSettings, 'seed' | 'sampling'>): SamplerOptions {
  return {
    seed: settings.seed,
    quotas: settings.sampling.quotas,
    minWeight: settings.sampling.min_weight,
    hubFraction: settings.sampling.hub_fraction,
    novelOnly: settings.sampling.novel_only,
  };
}

/**
 * The combinations `seeds` seeds with KCs have earned: `combinations_per_seed` each, at most
 * `max_combinations` in all (0: no cap). concept-graph emits this many in all (less what is already
 * in grip.pairs), restarts or not; the fault suite's accounting checks the same number.
 */
export function combinationBudget(services: Pick<RunSettings['services'], 'combinations_per_seed' | 'max_combinations'>, seeds: number): number {
  const earned = services.combinations_per_seed * seeds;
  return services.max_combinations > 0 ? Math.min(earned, services.max_combinations) : earned;
}

/** Concepts in the graph's canonical order: by seed id, a seed's first message first. */
export function bySeedId(concepts: SeedConcepts[]): SeedConcepts[] {
  return concepts.map((c, i) => ({ c, i })).sort((a, b) => (a.c.seed_id < b.c.seed_id ? -1 : a.c.seed_id > b.c.seed_id ? 1 : a.i - b.i)).map(({ c }) => c);
}

export function comboId(key: string): string {
  return `combo-${shortHash(key, 24)}`;
}

/** Layout of concept-graph's checkpoint sections (bump when it changes: older files are ignored). */
export const GRAPH_STATE_FORMAT = `concept-graph-state.v1+graph${GRAPH_FORMAT_VERSION}+sampler${SAMPLER_STATE_VERSION}`;

export class ConceptGraphStage {
  readonly graph: KcGraph;
  readonly sampler: Sampler;
  private readonly names = new Map<string, string>();

  constructor(samplerOptions: SamplerOptions, graph = new KcGraph()) {
    this.graph = graph;
    this.sampler = createSampler(this.graph, samplerOptions);
  }

  /** The graph (its seed table), the sampler's progress and the KC names, as checkpoint sections. */
  exportSections(): Record<string, Uint8Array> {
    return {
      graph: serializeGraph(this.graph),
      sampler: this.sampler.exportState(),
      names: Buffer.from(JSON.stringify([...this.names]), 'utf8'),
    };
  }

  /** A stage with the sampler options given, restored from exportSections; throws when a section is damaged. */
  static importSections(samplerOptions: SamplerOptions, sections: Record<string, Uint8Array>): ConceptGraphStage {
    const { graph, sampler, names } = sections;
    if (!graph || !sampler || !names) throw new Error('concept-graph state: a section is missing');
    const stage = new ConceptGraphStage(samplerOptions, restoreGraph(graph));
    stage.sampler.importState(sampler);
    for (const [id, name] of JSON.parse(Buffer.from(names).toString('utf8')) as Array<[string, string]>) stage.names.set(id, name);
    return stage;
  }

  /**
   * Adds one seed's KCs to the graph; a seed without KCs adds nothing. Redelivery changes nothing.
   * 'conflict': the seed is in the graph already with other KCs (a re-extraction with another
   * model); the graph keeps the first extraction, since co-occurrence counts cannot be taken back.
   */
  ingest(concepts: SeedConcepts): 'added' | 'known' | 'empty' | 'conflict' | 'invalid' {
    if (validateConcepts(concepts).kind !== 'ok') return 'invalid';
    for (const kc of concepts.kcs) this.names.set(kc.kc_id, kc.name);
    if (concepts.kcs.length === 0) return 'empty';
    const ids = concepts.kcs.map((k) => k.kc_id);
    if (this.graph.hasSeed(concepts.seed_id)) {
      try {
        this.graph.addSeed(concepts.seed_id, ids);
        return 'known';
      } catch {
        return 'conflict';
      }
    }
    this.graph.addSeed(concepts.seed_id, ids);
    return 'added';
  }

  /**
   * The rebuild at start: one grip.concepts message into the graph. A malformed one (dead-lettered
   * when the stage first saw it, or written by another producer) is skipped, counted and logged,
   * never thrown: a throw here would stop every restart for good.
   */
  rebuild(concepts: SeedConcepts, log: Logger): ReturnType<ConceptGraphStage['ingest']> {
    const outcome = this.ingest(concepts);
    if (outcome === 'invalid') {
      invalidMessages.inc({ topic: 'grip.concepts', where: 'rebuild' });
      const check = validateConcepts(concepts);
      log('error', 'malformed grip.concepts message skipped while rebuilding the graph', { seed_id: concepts.seed_id, concepts_id: concepts.concepts_id, detail: check.kind === 'dlq' ? check.detail : '' });
    }
    return outcome;
  }

  /** The stage's edge check: a malformed message goes to the DLQ with its reason, counted. */
  check(concepts: SeedConcepts): HandlerResult<SeedConcepts> {
    const result = validateConcepts(concepts);
    if (result.kind !== 'ok') invalidMessages.inc({ topic: 'grip.concepts', where: 'stage' });
    return result;
  }

  /** A combination already in grip.pairs (found on restart): never emitted again. A malformed one is skipped (false). */
  markEmitted(combo: Pick<Combination, 'kc_ids' | 'kc_names'>, log?: Logger): boolean {
    const problem = badCombination(combo);
    if (problem) {
      invalidMessages.inc({ topic: 'grip.pairs', where: 'rebuild' });
      log?.('error', 'malformed grip.pairs message skipped while rebuilding the sampler', { kc_ids: combo.kc_ids, detail: problem });
      return false;
    }
    combo.kc_ids.forEach((id, i) => this.names.has(id) || this.names.set(id, combo.kc_names[i] ?? id));
    return this.sampler.markYielded(combo.kc_ids);
  }

  nameOf(kcId: string): string {
    return this.names.get(kcId) ?? kcId;
  }

  /** Up to n combinations never emitted before, as grip.pairs messages. */
  sample(n: number, now: number): Combination[] {
    return this.sampler.next(n).map((c) => this.toMessage(c, now));
  }

  private toMessage(c: SampledCombination, now: number): Combination {
    const id = comboId(c.key);
    const seeds = new Set<string>();
    for (const kc of c.kcIds) {
      for (const seed of this.graph.seedsOf(kc)) {
        if (seeds.size >= MAX_LINEAGE_SEEDS) break;
        seeds.add(seed);
      }
    }
    return {
      combo_id: id,
      key: c.key,
      kc_ids: c.kcIds,
      kc_names: c.kcIds.map((k) => this.nameOf(k)),
      relation: c.relation,
      hop: c.hop,
      witness: c.path,
      weight: c.weight,
      novel: c.novel,
      lineage: { seed_ids: [...seeds].sort(), kc_ids: c.kcIds, combo_id: id, steps: [] },
      created_at: now,
    };
  }
}
