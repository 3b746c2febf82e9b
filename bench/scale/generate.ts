/**
 * Synthetic, well-formed records of every pipeline topic at a given scale, as the stages would have
 * written them (pure: no I/O). Paper scale (1): 7,500 seeds, 10,000 KCs, 2,100,000 combinations,
 * one candidate and one verdict per combination.
 *
 * - Seeds: MATH-like problems and solutions (text.ts).
 * - grip.kc-registry: one entry per KC with a random unit vector of the embeddings model's
 *   dimension and the registry settings concept-extractor computes (`registrySettingsOf`): the
 *   extractor refuses a log written with other settings. KC ids come from applying the entries
 *   to a KcRegistry with those settings, as every replica does.
 * - grip.concepts: 1-5 KCs per seed with Zipf KC frequencies (bench/kc-graph-gen.ts).
 * - grip.pairs: the combinations concept-graph's own sampler draws from the graph of those seeds
 *   (ConceptGraphStage.sample, the stage's code); if the graph cannot supply them all (tiny scales),
 *   the rest are random KC sets never drawn before, labelled 3-hop, and counted (`toppedUp`).
 * - grip.candidates: one per combination, problem 300-500 chars, solution 800-1500 chars.
 * - grip.verdicts: one per candidate, of the judge configuration given (`judgeConfigVersion`), about
 *   30% accepted, the rest with the judge's rejection reasons; problem and solution copied from the
 *   candidate, as the judge does.
 *
 * Everything is deterministic for a scale: a combination's candidate and verdict are made from an
 * RNG seeded by its index, so the candidates and verdicts passes see the same texts.
 */
import { createKcRegistry, normalizeKcName, type KcRegistry } from '../../core/concepts/index.ts';
import { promptVersions } from '../../core/prompts/index.ts';
import { canonicalJson, deterministicId, shortHash } from '../../core/util/hash.ts';
import { createRng, type Rng } from '../../core/util/rng.ts';
import type { Candidate, Combination, KcRegistryEntry, LineageStep, Seed, SeedConcepts, Verdict } from '../../schemas/generated/types.ts';
import { ConceptGraphStage, samplerOptionsFrom } from '../../services/concept-graph/graph.ts';
import { JUDGE_STAGES } from '../../services/judge/handler.ts';
import type { RunSettings } from '../../services/runtime/settings.ts';
import { generateSeeds } from '../kc-graph-gen.ts';
import { finalAnswer, hexId, kcName, TextPool } from './text.ts';

export const PAPER = { seeds: 7_500, kcs: 10_000, combinations: 2_100_000 } as const;

export interface ScaleSizes {
  seeds: number;
  kcs: number;
  combinations: number;
}

export function sizesFor(scale: number): ScaleSizes {
  return { seeds: Math.max(10, Math.round(PAPER.seeds * scale)), kcs: Math.max(10, Math.round(PAPER.kcs * scale)), combinations: Math.max(100, Math.round(PAPER.combinations * scale)) };
}

/** The registry settings concept-extractor writes into every entry (as its stage.ts builds the registry). */
export function registryOf(settings: Pick<RunSettings, 'kc_merge' | 'seed'>): KcRegistry {
  return createKcRegistry({
    sameThreshold: settings.kc_merge.same,
    synonymThreshold: settings.kc_merge.synonym,
    maxSynonymChecks: settings.kc_merge.max_synonym_checks,
    search: settings.kc_merge.search,
    seed: settings.seed,
  });
}

export function registrySettingsOf(settings: Pick<RunSettings, 'kc_merge' | 'seed'>): string {
  return canonicalJson(registryOf(settings).applySettings());
}

export interface SynthContext {
  sizes: ScaleSizes;
  settings: RunSettings;
  /** The judge_config_version of the judge the bench runs (handler.ts judgeConfigVersion). */
  judgeConfigVersion: string;
  judgeModels: Record<string, string>;
  /** Model of every other LLM step, for lineage records. */
  llmModel: string;
  embeddingsModel: string;
  /** Dimension of the embeddings model's vectors (the registry refuses others). */
  dimension: number;
  /** The simulated run ends here (ms); records spread over `spanMs` before it. */
  endAt: number;
  spanMs: number;
  /** RNG seed of everything. */
  seed?: number;
}

const PROMPT_VERSIONS = promptVersions();
const VERSION_OF = new Map<string, string>();
/** A prompt's version (a name with variants, e.g. problem_synthesis, gives its first), for lineage steps. */
function version(name: string): string {
  let v = VERSION_OF.get(name);
  if (v === undefined) {
    v = PROMPT_VERSIONS[name] ?? PROMPT_VERSIONS[Object.keys(PROMPT_VERSIONS).find((k) => k.startsWith(`${name}:`)) ?? ''] ?? 'p-bench';
    VERSION_OF.set(name, v);
  }
  return v;
}

function step(rng: Rng, stage: string, prompt: string, model: string): LineageStep {
  return { stage, model, prompt_version: version(prompt), call_id: `${stage}-${hexId(rng)}`, prompt_tokens: 200 + rng.int(600), completion_tokens: 50 + rng.int(700) };
}

/** Seeds, KC registry entries and concepts: small, held in memory. */
export class Synth {
  readonly seeds: Seed[];
  readonly registryEntries: KcRegistryEntry[];
  /** KC ids by KC number, from applying the entries. */
  readonly kcIds: string[];
  readonly kcNames: string[];
  readonly concepts: SeedConcepts[];
  private readonly startAt: number;
  private readonly text: TextPool;

  constructor(readonly ctx: SynthContext) {
    const { sizes } = ctx;
    const seed = ctx.seed ?? 42;
    this.startAt = ctx.endAt - ctx.spanMs;
    const rng = createRng(seed);
    this.text = new TextPool(rng);
    this.seeds = Array.from({ length: sizes.seeds }, (_, i) => {
      const problem = this.text.problem(rng, 100, 400);
      const answer = finalAnswer(rng);
      return {
        seed_id: `seed-${shortHash(`${i}\u0000${problem}`, 16)}`,
        problem,
        solution: this.text.solution(rng, 200, 900, answer),
        source: 'math/train.jsonl',
        source_id: `train/algebra/${i}.json`,
        ingested_at: this.startAt - 3_600_000 + Math.floor((i / sizes.seeds) * 3_600_000),
      };
    });

    // KC registry: one entry per KC (random unit vectors are nearly orthogonal: every entry founds a KC)
    this.kcNames = Array.from({ length: sizes.kcs }, (_, k) => kcName(k));
    const registry = registryOf(ctx.settings);
    const settingsJson = canonicalJson(registry.applySettings());
    this.registryEntries = [];
    this.kcIds = [];
    for (let k = 0; k < sizes.kcs; k++) {
      const name = this.kcNames[k]!;
      const unit = randomUnit(rng, ctx.dimension);
      // the key is the registry's normalization of the name (as the extractor's decide() gives it)
      const key = normalizeKcName(name);
      const entry: KcRegistryEntry = {
        entry_id: `kcr-${hexId(rng, 32)}`,
        name,
        key,
        vector: Buffer.from(unit.buffer, unit.byteOffset, unit.byteLength),
        embeddings_model: ctx.embeddingsModel,
        registry_settings: settingsJson,
        asked: [],
        proposer: 'scale-bench:1',
        proposed_at: this.startAt - 3_600_000 + k,
      };
      const result = registry.apply({ name, key, unit, asked: [] });
      if (result.outcome !== 'new') throw new Error(`scale bench: KC ${JSON.stringify(name)} merged into another (${result.outcome}); names or vectors are not distinct`);
      this.registryEntries.push(entry);
      this.kcIds.push(result.id);
    }

    // concepts: 1-5 KCs per seed, Zipf frequencies, every KC at least once
    const assignment = generateSeeds({ kcs: sizes.kcs, seeds: sizes.seeds, seed });
    this.concepts = assignment.seeds.map((s, i) => {
      const seedRecord = this.seeds[i]!;
      const kcs = s.kcIds.map((id) => {
        const k = Number(id.slice(3));
        const outcome = rng.next() < 0.7 ? 'exact' : rng.next() < 0.5 ? 'new' : 'embedding';
        return { kc_id: this.kcIds[k]!, name: this.kcNames[k]!, raw_name: this.kcNames[k]!, outcome, similarity: outcome === 'embedding' ? 0.97 + rng.next() * 0.03 : 1 };
      });
      const model = ctx.llmModel;
      return {
        concepts_id: `extract-${hexId(rng)}`,
        seed_id: seedRecord.seed_id,
        kcs,
        dropped: rng.next() < 0.3 ? [{ raw_name: 'adding numbers', reason: 'a skill, not a concept' }] : [],
        lineage: { seed_ids: [seedRecord.seed_id], kc_ids: kcs.map((k) => k.kc_id), combo_id: null, steps: [step(rng, 'extract', 'kc_extraction', model), step(rng, 'filter', 'kc_filter', model)] },
        created_at: seedRecord.ingested_at + 60_000,
      };
    });
  }

  /**
   * The combinations, in chunks, as concept-graph's sampler draws them from the graph of the
   * concepts (a fresh graph and sampler per call, so every pass yields the same sequence).
   */
  *combinations(chunk = 10_000): Generator<Combination[]> {
    const stage = new ConceptGraphStage(samplerOptionsFrom(this.ctx.settings));
    for (const c of this.concepts) stage.ingest(c);
    const total = this.ctx.sizes.combinations;
    let made = 0;
    this.toppedUp = 0;
    while (made < total) {
      const at = this.startAt + Math.floor((made / total) * this.ctx.spanMs);
      const batch = stage.sample(Math.min(chunk, total - made), at);
      if (batch.length === 0) break;
      made += batch.length;
      yield batch;
    }
    // a graph too small for the count (tiny scales): random KC sets never drawn before
    const rng = createRng((this.ctx.seed ?? 42) + 7);
    const n = this.kcIds.length;
    while (made < total) {
      const batch: Combination[] = [];
      let guard = 0;
      while (batch.length < Math.min(chunk, total - made) && guard++ < 100 * chunk) {
        const size = 2 + rng.int(Math.min(3, n - 1));
        const picked = new Set<number>();
        while (picked.size < size) picked.add(rng.int(n));
        const ids = [...picked].map((k) => this.kcIds[k]!).sort();
        if (!stage.markEmitted({ kc_ids: ids, kc_names: ids.map((id) => stage.nameOf(id)) })) continue;
        const key = ids.join('|');
        const comboId = `combo-${shortHash(key, 24)}`;
        batch.push({
          combo_id: comboId,
          key,
          kc_ids: ids,
          kc_names: ids.map((id) => stage.nameOf(id)),
          relation: '3-hop',
          hop: 3,
          witness: ids,
          weight: 1,
          novel: true,
          lineage: { seed_ids: [], kc_ids: ids, combo_id: comboId, steps: [] },
          created_at: this.startAt + Math.floor(((made + batch.length) / total) * this.ctx.spanMs),
        });
      }
      if (batch.length === 0) throw new Error(`scale bench: cannot find ${total} distinct KC combinations among ${n} KCs`);
      made += batch.length;
      this.toppedUp += batch.length;
      yield batch;
    }
  }

  /** Combinations of the last `combinations()` pass that were random top-ups, not sampled. */
  toppedUp = 0;

  /** The candidate problem-synth would have made of combination number `i`. */
  candidate(combo: Combination, i: number): Candidate {
    const rng = createRng(hashIndex(i, 1));
    const answer = finalAnswer(rng);
    const model = this.ctx.llmModel;
    return {
      candidate_id: deterministicId('candidate', 'scale-bench', combo.combo_id),
      combo_id: combo.combo_id,
      relation: combo.relation,
      hop: combo.hop,
      novel: combo.novel,
      kc_ids: combo.kc_ids,
      kc_names: combo.kc_names,
      problem: this.text.problem(rng, 300, 500),
      difficulty: ['easy', 'medium', 'hard'][rng.int(3)]!,
      solution: this.text.solution(rng, 800, 1500, answer),
      final_answer: answer,
      lineage: {
        ...combo.lineage,
        steps: [step(rng, 'synthesize', `problem_synthesis:${combo.relation}`, model), step(rng, 'difficulty', 'difficulty_rating', model), step(rng, 'solve', 'solution', model)],
      },
      created_at: combo.created_at + 20_000 + rng.int(20_000),
    };
  }

  /**
   * The verdict of the judge configuration of the context for candidate number `i`: about 30%
   * accepted; otherwise the reasons the judge gives (scores below the threshold, a veto, the
   * self-consistency check, a duplicate, a gate, contamination) in plausible shares.
   */
  verdict(candidate: Candidate, i: number): Verdict {
    const rng = createRng(hashIndex(i, 2));
    const { judging } = this.ctx.settings;
    const version = this.ctx.judgeConfigVersion;
    const models = this.ctx.judgeModels;
    const verify = judging.self_consistency;
    const r = rng.next();
    const judges = JUDGE_STAGES.map((id) => ({ judge: id, model: models[id] ?? '', weight: judging.weights[id], problem_score: null as number | null, solution_vote: null as number | null }));
    const steps: LineageStep[] = [];
    let reason: string;
    let problemScore: number | null = null;
    let callsMade = 0;
    let duplicateOf: string | null = null;
    let overlap = rng.int(8);
    let match: string | null = null;
    const judged = (accept: boolean, veto: number) => {
      if (verify) steps.push(step(rng, 'verify', 'answer_check', this.ctx.llmModel));
      let sum = 0;
      for (const j of judges) {
        j.problem_score = accept ? 0.85 + rng.next() * 0.15 : 0.3 + rng.next() * 0.6;
        sum += j.weight * j.problem_score;
        steps.push(step(rng, j.judge, 'problem_judgement', j.model));
        callsMade++;
      }
      problemScore = sum / judges.reduce((s, j) => s + j.weight, 0);
      if (problemScore < judging.threshold) return false;
      for (let k = 0; k < judges.length; k++) {
        judges[k]!.solution_vote = k === veto ? 0 : 1;
        steps.push(step(rng, judges[k]!.judge, 'solution_judgement', judges[k]!.model));
        callsMade++;
        if (k === veto) return false;
      }
      return true;
    };
    if (r < 0.3) {
      judged(true, -1);
      reason = 'accepted';
    } else if (r < 0.62) {
      const passed = judged(false, -1);
      reason = passed ? 'accepted' : 'problem_score_below_threshold';
    } else if (r < 0.74) {
      const veto = rng.int(judges.length);
      reason = judged(true, veto) ? 'accepted' : `solution_vetoed_by:${judges[veto]!.judge}`;
    } else if (r < 0.86 && verify) {
      steps.push(step(rng, 'verify', 'answer_check', this.ctx.llmModel));
      reason = 'self_consistency';
    } else if (r < 0.93) {
      reason = 'duplicate';
      duplicateOf = `verdict-${hexId(rng)}`;
    } else if (r < 0.98) {
      reason = ['gate:length', 'gate:no_question', 'gate:repetition', 'gate:answer_absent'][rng.int(4)]!;
    } else {
      reason = 'contaminated';
      overlap = 13 + rng.int(20);
      match = `math:test/algebra/${rng.int(5000)}.json`;
    }
    const budget = 2 * judges.length;
    return {
      verdict_id: deterministicId('verdict', version, candidate.candidate_id),
      candidate_id: candidate.candidate_id,
      combo_id: candidate.combo_id,
      judge_config_version: version,
      accepted: reason === 'accepted',
      reason,
      problem_score: problemScore,
      threshold: judging.threshold,
      judges,
      calls_made: callsMade,
      // calls_made counts judge calls (the verify step is not one); early exit saves the rest
      calls_saved: budget - callsMade,
      duplicate_of: duplicateOf,
      contamination_overlap: overlap,
      contamination_match: match,
      relation: candidate.relation,
      hop: candidate.hop,
      novel: candidate.novel,
      kc_ids: candidate.kc_ids,
      kc_names: candidate.kc_names,
      problem: candidate.problem,
      solution: candidate.solution,
      final_answer: candidate.final_answer,
      difficulty: candidate.difficulty,
      lineage: { ...candidate.lineage, steps: [...candidate.lineage.steps, ...steps] },
      created_at: candidate.created_at + 20_000 + rng.int(40_000),
    };
  }

  /**
   * `n` candidates no stage has seen (for the judge's takeover: judged by the instance that took
   * over), on combinations of their own; `salt` keeps runs apart.
   */
  freshCandidates(n: number, salt: string, now: number): Candidate[] {
    const rng = createRng(hashIndex(n, 3) ^ parseInt(shortHash(salt, 8), 16));
    return Array.from({ length: n }, (_, i) => {
      const ids = [this.kcIds[rng.int(this.kcIds.length)]!, this.kcIds[rng.int(this.kcIds.length)]!].sort();
      const key = `${ids.join('|')}|fresh-${salt}-${i}`;
      const comboId = `combo-${shortHash(key, 24)}`;
      const combo: Combination = { combo_id: comboId, key, kc_ids: ids, kc_names: ids.map((id) => this.kcNames[this.kcIds.indexOf(id)] ?? id), relation: '2-hop', hop: 2, witness: ids, weight: 1, novel: true, lineage: { seed_ids: [], kc_ids: ids, combo_id: comboId, steps: [] }, created_at: now };
      const c = this.candidate(combo, this.ctx.sizes.combinations + 1_000_000 + i + rng.int(1_000_000));
      return { ...c, created_at: now };
    });
  }
}

function randomUnit(rng: Rng, dim: number): Float32Array {
  const v = new Float32Array(dim);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    // sum of uniforms: close enough to a Gaussian for a direction with no preferred axis
    const x = rng.next() + rng.next() + rng.next() - 1.5;
    v[i] = x;
    norm += x * x;
  }
  const inv = 1 / Math.sqrt(norm);
  for (let i = 0; i < dim; i++) v[i]! *= inv;
  return v;
}

/** A 32-bit seed for record `i` of stream `stream`. */
function hashIndex(i: number, stream: number): number {
  let h = (Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(stream, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
