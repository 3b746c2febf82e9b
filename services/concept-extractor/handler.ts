/**
 * concept-extractor: seed -> its key concepts. The paper's steps 1-2: an instruct model lists 1-5
 * KCs from the problem AND its solution, a (smaller) model drops vague or wrong ones, and each
 * survivor is merged into the KC registry by embedding cosine, with an LLM synonym check in the
 * 0.70-0.90 band.
 */
import { implausibleKcName, type KcRegistry, type SynonymCheck } from '../../core/concepts/index.ts';
import { kcFilter, PROMPTS, synonymCheck, type PromptSet } from '../../core/prompts/index.ts';
import type { LineageStep, Seed, SeedConcepts } from '../../schemas/generated/types.ts';
import { dlqOnModelFailure, idFromInputs, ok, tracedCall, withLineage, type HandlerResult, type PlannedCall } from '../runtime/handler.ts';
import type { LlmClient } from '../runtime/llm.ts';

export interface ConceptExtractorDeps {
  llm: LlmClient;
  /** Only merging is needed; a runner may wrap it (e.g. to merge in seed order). */
  registry: Pick<KcRegistry, 'addMany'>;
  now: () => number;
  /** The domain's prompts (settings.domain); default: the plain ones. */
  prompts?: PromptSet;
}

/** The registry's synonym check, asked through the `synonym` stage's model. */
export function llmSynonymCheck(llm: LlmClient): SynonymCheck {
  return async (candidate, existing) => {
    const { value } = await tracedCall(llm, 'synonym', synonymCheck, { concept_a: candidate.name, concept_b: existing.name });
    // A representative that is no concept name (a small model may echo "same") keeps the existing name.
    const representative = value.same && !implausibleKcName(value.representative) ? value.representative : undefined;
    return { same: value.same, representative };
  };
}

/** The paper's "atomic, no duplicates" rule, enforced: the first spelling of each name (case-insensitive) wins. */
function distinctNames(names: string[]): string[] {
  const seen = new Set<string>();
  return names.filter((n) => {
    const key = n.trim().toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A seed's concepts id: the seed and the settings of every call an extraction may make (idFromInputs). */
export function conceptsId(seed: Pick<Seed, 'seed_id'>, llm: Pick<LlmClient, 'callSettings'>, prompts: PromptSet = PROMPTS): string {
  const plan: PlannedCall[] = [
    ['extract', prompts.kc_extraction],
    ['filter', kcFilter],
    ['synonym', synonymCheck],
  ];
  return idFromInputs('concepts', { seed: seed.seed_id }, llm, plan);
}

/** What the concurrent half of extraction found: names kept and dropped, and its model calls. */
export interface ExtractedNames {
  kept: string[];
  dropped: SeedConcepts['dropped'];
  steps: LineageStep[];
}

/**
 * The concurrent half: the extract and filter calls. Independent of the registry, so any number run
 * at once; their merging (`mergeConcepts`) is the order-sensitive half.
 */
export async function extractNames(seed: Seed, deps: Pick<ConceptExtractorDeps, 'llm' | 'prompts'>): Promise<HandlerResult<ExtractedNames>> {
  return dlqOnModelFailure(async () => {
    const { value, steps } = await withLineage(async () => {
      const prompts = deps.prompts ?? PROMPTS;
      const extracted = await tracedCall(deps.llm, 'extract', prompts.kc_extraction, prompts.kcExtractionVars(seed.problem, seed.solution));
      const dropped: SeedConcepts['dropped'] = [];
      const names = distinctNames(extracted.value.kcs).filter((name) => {
        const reason = implausibleKcName(name);
        if (reason) dropped.push({ raw_name: name, reason });
        return !reason;
      });
      if (names.length === 0) return { kept: [], dropped };
      const filtered = await tracedCall(deps.llm, 'filter', kcFilter, { problem: seed.problem, kcs: names });
      // The filter answers per listed name; a name it does not mention is kept (it was not judged bad).
      const decisions = new Map(filtered.value.decisions.map((d) => [d.kc.trim().toLowerCase(), d]));
      const kept: string[] = [];
      for (const name of names) {
        const decision = decisions.get(name.trim().toLowerCase());
        if (decision && !decision.keep) dropped.push({ raw_name: name, reason: decision.reason || 'dropped by the quality filter' });
        else kept.push(name);
      }
      return { kept, dropped };
    });
    return ok({ ...value, steps });
  });
}

/**
 * The ordered half: merges the kept names into the KC registry (embedding search, the synonym check
 * in the band) and makes the seed's concepts message. Runners call it in input order: the first
 * name of a concept founds its cluster.
 */
export async function mergeConcepts(seed: Seed, names: ExtractedNames, deps: Pick<ConceptExtractorDeps, 'llm' | 'registry' | 'now' | 'prompts'>): Promise<HandlerResult<SeedConcepts>> {
  return dlqOnModelFailure(async () => {
    const { value: merged, steps: synonymSteps } = await withLineage(async () => (names.kept.length > 0 ? deps.registry.addMany(names.kept.map((name) => ({ name }))) : []));
    // Two names of one seed can merge into one KC: keep each KC once, first name wins.
    const seen = new Set<string>();
    const kcs: SeedConcepts['kcs'] = [];
    merged.forEach((m, i) => {
      if (seen.has(m.id)) return;
      seen.add(m.id);
      kcs.push({ kc_id: m.id, name: m.representative, raw_name: names.kept[i], outcome: m.outcome, similarity: m.outcome === 'new' ? 1 : (m.similarity ?? 1) });
    });
    return ok<SeedConcepts>({
      concepts_id: conceptsId(seed, deps.llm, deps.prompts),
      seed_id: seed.seed_id,
      kcs,
      dropped: names.dropped,
      lineage: { seed_ids: [seed.seed_id], kc_ids: kcs.map((k) => k.kc_id), combo_id: null, steps: [...names.steps, ...synonymSteps] },
      created_at: deps.now(),
    });
  });
}

/** Both halves in one call (for a runner that needs no ordering, and tests). */
export async function extractConcepts(seed: Seed, deps: ConceptExtractorDeps): Promise<HandlerResult<SeedConcepts>> {
  const names = await extractNames(seed, deps);
  return names.kind === 'ok' ? mergeConcepts(seed, names.value, deps) : names;
}
