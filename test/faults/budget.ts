/**
 * The fault suite's count of combinations: how many concept-graph owed, from the logs and the
 * settings the services ran with, and whether it emitted them. Pure (no broker): the suite feeds it
 * grip.concepts and grip.pairs as read from Kafka; a unit test feeds it the in-process logs.
 *
 * The rule is the stage's (services/concept-graph/stage.ts): every seed with at least one KC earns
 * `combinations_per_seed`, at most `max_combinations` in all (`combinationBudget`); what a sample
 * cannot find carries forward. So when the graph of every seed can supply the budget, exactly the
 * budget was emitted, restarts or not. When it cannot (a few seeds, few KCs), the stage emitted at
 * least what the sampler finds in that graph and at most the budget: the reference is the stage's
 * own sampler, with the same settings, on the graph the stage's own rebuild makes of grip.concepts.
 */
import type { Combination, SeedConcepts } from '../../schemas/generated/types.ts';
import { bySeedId, combinationBudget, ConceptGraphStage, graphStageFrom } from '../../services/concept-graph/graph.ts';
import type { RunSettings } from '../../services/runtime/settings.ts';

export interface CombinationAccount {
  /** Seeds with at least one KC in the graph rebuilt from grip.concepts. */
  seeds: number;
  /** What they earned: combinationBudget(settings.services, seeds). */
  budget: number;
  /**
   * Combinations a fresh sampler (the stage's settings) finds in that graph, up to `budget`. Louvain
   * groups are left out: their candidates depend on when the communities were last computed, so
   * they cannot be recomputed from the final graph alone (the default quotas have none).
   */
  reachable: number;
  /** Distinct combinations in grip.pairs, as the stage counts them at start (malformed ones skipped). */
  emitted: number;
}

/** The sampling settings without Louvain groups, or null when nothing else has a share. */
function withoutLouvain(settings: Pick<RunSettings, 'seed' | 'sampling'>): Pick<RunSettings, 'seed' | 'sampling'> | null {
  const quotas = settings.sampling.quotas;
  if (!quotas || !((quotas.louvain ?? 0) > 0)) return settings;
  const { louvain: _louvain, ...rest } = quotas;
  if (!Object.values(rest).some((share) => (share ?? 0) > 0)) return null;
  return { ...settings, sampling: { ...settings.sampling, quotas: rest } };
}

export function accountCombinations(settings: Pick<RunSettings, 'seed' | 'sampling' | 'services'>, concepts: SeedConcepts[], pairs: Combination[]): CombinationAccount {
  const quiet = () => undefined;
  const graph = graphStageFrom(settings);
  for (const c of bySeedId(concepts)) graph.rebuild(c, quiet);
  const seeds = graph.graph.seedCount;
  const budget = combinationBudget(settings.services, seeds);
  const structural = withoutLouvain(settings);
  let reachable = 0;
  if (structural) {
    const reference = graphStageFrom(structural);
    for (const c of bySeedId(concepts)) reference.rebuild(c, quiet);
    reachable = reference.sample(budget, 0).length;
  }
  const counter = new ConceptGraphStage({ seed: settings.seed });
  const emitted = pairs.filter((p) => counter.markEmitted(p, quiet)).length;
  return { seeds, budget, reachable, emitted };
}

/** Null when concept-graph emitted what its seeds earned (see the header), else what is wrong. */
export function budgetViolation(a: CombinationAccount): string | null {
  const what = `${a.seeds} seeds with KCs earned ${a.budget} combinations (the final graph supplies ${a.reachable === a.budget ? 'all of them' : `only ${a.reachable}`}); grip.pairs holds ${a.emitted}`;
  if (a.emitted > a.budget) return `more combinations than earned: ${what}`;
  if (a.emitted < a.reachable) return `combinations lost: ${what}`;
  return null;
}
