/**
 * concept-extractor: seed -> its key concepts. The paper's steps 1-2: an instruct model lists 1-5
 * KCs from the problem AND its solution, a (smaller) model drops vague or wrong ones, and each
 * survivor is merged into the KC registry by embedding cosine, with an LLM synonym check in the
 * 0.70-0.90 band.
 */
import { implausibleKcName, type KcRegistry, type SynonymCheck } from '../../core/concepts/index.ts';
import { kcFilter, PROMPTS, synonymCheck, type PromptSet } from '../../core/prompts/index.ts';
import { deterministicId } from '../../core/util/hash.ts';
import type { Seed, SeedConcepts } from '../../schemas/generated/types.ts';
import { dlqOnModelFailure, ok, tracedCall, withLineage, type HandlerResult } from '../runtime/handler.ts';
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

export async function extractConcepts(seed: Seed, deps: ConceptExtractorDeps): Promise<HandlerResult<SeedConcepts>> {
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
      if (names.length === 0) return { kept: [], dropped, merged: [] };
      const filtered = await tracedCall(deps.llm, 'filter', kcFilter, { problem: seed.problem, kcs: names });
      // The filter answers per listed name; a name it does not mention is kept (it was not judged bad).
      const decisions = new Map(filtered.value.decisions.map((d) => [d.kc.trim().toLowerCase(), d]));
      const kept: string[] = [];
      for (const name of names) {
        const decision = decisions.get(name.trim().toLowerCase());
        if (decision && !decision.keep) dropped.push({ raw_name: name, reason: decision.reason || 'dropped by the quality filter' });
        else kept.push(name);
      }
      const merged = await deps.registry.addMany(kept.map((name) => ({ name })));
      return { kept, dropped, merged };
    });
    // Two names of one seed can merge into one KC: keep each KC once, first name wins.
    const seen = new Set<string>();
    const kcs: SeedConcepts['kcs'] = [];
    value.merged.forEach((m, i) => {
      if (seen.has(m.id)) return;
      seen.add(m.id);
      kcs.push({ kc_id: m.id, name: m.representative, raw_name: value.kept[i], outcome: m.outcome, similarity: m.outcome === 'new' ? 1 : (m.similarity ?? 1) });
    });
    // The id names the extraction (seed + the extract and filter calls, whose ids carry the prompt
    // versions and models), not the registry's synonym calls: those depend on what the registry held
    // at the time, and a seed extracted again (sent twice, redelivered) must land on the same row.
    const extraction = steps.filter((s) => s.stage !== 'synonym');
    return ok<SeedConcepts>({
      concepts_id: deterministicId('concepts', extraction.map((s) => s.prompt_version).join(','), { seed: seed.seed_id, calls: extraction.map((s) => s.call_id) }),
      seed_id: seed.seed_id,
      kcs,
      dropped: value.dropped,
      lineage: { seed_ids: [seed.seed_id], kc_ids: kcs.map((k) => k.kc_id), combo_id: null, steps },
      created_at: deps.now(),
    });
  });
}
