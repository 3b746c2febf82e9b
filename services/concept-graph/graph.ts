/**
 * concept-graph: keeps the KC relation graph from the stream of seed concepts and samples
 * combinations from it (the paper's steps 3-4). Stateful by nature: it owns the graph and the
 * sampler, whose yielded-key set makes every canonical key come out once.
 */
import { createSampler, type Combination as SampledCombination, type Sampler, type SamplerOptions } from '../../core/combos/index.ts';
import { KcGraph } from '../../core/graph/index.ts';
import { shortHash } from '../../core/util/hash.ts';
import type { Combination, SeedConcepts } from '../../schemas/generated/types.ts';
import type { RunSettings } from '../runtime/settings.ts';

/** Seeds named in a combination's lineage, at most: a hub KC can sit in thousands of seeds. */
const MAX_LINEAGE_SEEDS = 20;

/** The stage as the settings file (`sampling`, `seed`) describes it. */
export function graphStageFrom(settings: Pick<RunSettings, 'seed' | 'sampling'>): ConceptGraphStage {
  return new ConceptGraphStage({
    seed: settings.seed,
    quotas: settings.sampling.quotas,
    minWeight: settings.sampling.min_weight,
    hubFraction: settings.sampling.hub_fraction,
    novelOnly: settings.sampling.novel_only,
  });
}

export function comboId(key: string): string {
  return `combo-${shortHash(key, 24)}`;
}

export class ConceptGraphStage {
  readonly graph: KcGraph;
  readonly sampler: Sampler;
  private readonly names = new Map<string, string>();

  constructor(samplerOptions: SamplerOptions, graph = new KcGraph()) {
    this.graph = graph;
    this.sampler = createSampler(this.graph, samplerOptions);
  }

  /**
   * Adds one seed's KCs to the graph; a seed without KCs adds nothing. Redelivery changes nothing.
   * 'conflict': the seed is in the graph already with other KCs (a re-extraction with another
   * model); the graph keeps the first extraction, since co-occurrence counts cannot be taken back.
   */
  ingest(concepts: SeedConcepts): 'added' | 'known' | 'empty' | 'conflict' {
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

  /** A combination already in grip.pairs (found on restart): never emitted again. */
  markEmitted(combo: Pick<Combination, 'kc_ids' | 'kc_names'>): boolean {
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
