/**
 * Synthetic pipeline messages for the analytics tests: many seeds, concepts, combinations, candidates
 * and verdicts built from the schema examples (schemas/examples/<topic>), with varied ids,
 * relations, hops, scores, acceptance, lineage calls and timestamps, plus dead letters. Pure and
 * deterministic (seeded), so a test can compute every expected figure from the same messages.
 *
 * Shape of the data set (defaults):
 * - `seeds` seeds, each with one concepts message naming 2-4 KCs of a pool of `kcs` (some KCs of
 *   the pool never extracted), extract + filter calls with tokens;
 * - `combos` combinations over 1-hop / 2-hop / 3-hop / community, novel with a per-relation chance;
 * - a candidate for most combinations (synthesize, difficulty, solve calls);
 * - a verdict per candidate with judge config `j-new`, acceptance falling with hop, and for the
 *   first `replayed` candidates an older verdict with config `j-old` (a replay with another judge
 *   config: another verdict id for the same candidate);
 * - dead letters of three stages.
 * `duplicates()` picks messages to insert a second time (same id): FINAL must count them once.
 */
import { GATE_REASONS } from '../../../core/gates/index.ts';
import { loadExamples } from '../../../schemas/catalog.ts';
import { rowFor, type SinkTopic } from '../../../services/clickhouse-sink/rows.ts';
import type { Candidate, Combination, Seed, SeedConcepts, Verdict } from '../../../schemas/generated/types.ts';
import { deadLetterRow, type DeadLetterRow } from '../../../services/clickhouse-sink/rows.ts';
import { dlqRecord } from '../../../services/runtime/kafka/dlq.ts';

export const BASE_MS = Date.UTC(2026, 10, 24, 12, 0, 0);
export const JUDGE_NEW = 'j-new';
export const JUDGE_OLD = 'j-old';

export interface SyntheticData {
  seeds: Seed[];
  concepts: SeedConcepts[];
  pairs: Combination[];
  candidates: Candidate[];
  verdicts: Verdict[];
  deadLetters: DeadLetterRow[];
}

export interface SyntheticOptions {
  seeds?: number;
  kcs?: number;
  combos?: number;
  replayed?: number;
  seed?: number;
  /** Longest overlap (words) of a problem with the benchmarks, as the judge records it. */
  overlapOf?: (problem: string) => number;
  /** Problems to plant in some accepted verdicts (e.g. benchmark sentences), so contamination is non-zero. */
  planted?: string[];
}

/** mulberry32: a small seeded PRNG, so the data set is the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOPICS = [
  ['distance formula', 'Find the distance between the points ($A,$B) and ($C,$D).'],
  ['equation of a circle', 'A circle is centred at ($A,$B) and passes through ($C,$D). Find its equation.'],
  ['pythagorean theorem', 'A right triangle has legs $A and $B. How long is its hypotenuse?'],
  ['arithmetic series', 'What is the sum of the first $A terms of the arithmetic sequence starting at $B with difference $C?'],
  ['quadratic formula', 'Solve x^2 - $Ax + $B = 0 for the larger root.'],
  ['modular arithmetic', 'What is the remainder when $A^$B is divided by $C?'],
  ['binomial coefficient', 'In how many ways can $B people be chosen from a group of $A?'],
  ['area of a triangle', 'A triangle has base $A and height $B. What is its area?'],
  ['prime factorization', 'How many positive divisors does $A$B have?'],
  ['probability of independent events', 'A fair die is rolled $A times. What is the probability that every roll shows at least $B?'],
] as const;

function fill(template: string, r: () => number): string {
  return template.replace(/\$([A-D])/g, () => String(2 + Math.floor(r() * 30)));
}

const step = (stage: string, model: string, callId: string, r: () => number) => ({
  stage,
  model,
  prompt_version: `p-${stage}`,
  call_id: callId,
  prompt_tokens: 100 + Math.floor(r() * 200),
  completion_tokens: 20 + Math.floor(r() * 100),
});

const RELATIONS = [
  { relation: '1-hop', hop: 1, novel: 0.1, accept: 0.9 },
  { relation: '2-hop', hop: 2, novel: 0.85, accept: 0.7 },
  { relation: '3-hop', hop: 3, novel: 0.95, accept: 0.55 },
  { relation: 'community', hop: 1, novel: 0.6, accept: 0.8 },
] as const;

export function syntheticData(opts: SyntheticOptions = {}): SyntheticData {
  const r = rng(opts.seed ?? 7);
  const nSeeds = opts.seeds ?? 40;
  const nKcs = opts.kcs ?? 60;
  const nCombos = opts.combos ?? 160;
  const nReplayed = opts.replayed ?? 20;
  const overlapOf = opts.overlapOf ?? (() => 0);
  const ex = {
    seed: loadExamples('grip.seeds')[0]!.value as Seed,
    concepts: loadExamples('grip.concepts')[0]!.value as SeedConcepts,
    pair: loadExamples('grip.pairs')[0]!.value as Combination,
    candidate: loadExamples('grip.candidates')[0]!.value as Candidate,
    verdict: loadExamples('grip.verdicts').find((e) => e.value.accepted)!.value as Verdict,
  };
  const kcName = (k: number) => `${TOPICS[k % TOPICS.length]![0]} ${Math.floor(k / TOPICS.length)}`;
  const kcId = (k: number) => `kc-${String(k).padStart(4, '0')}`;

  const seeds: Seed[] = [];
  const concepts: SeedConcepts[] = [];
  const seedKcs: number[][] = [];
  for (let i = 0; i < nSeeds; i++) {
    const topic = i % TOPICS.length;
    const seedId = `seed-${String(i).padStart(4, '0')}`;
    const at = BASE_MS + i * 5_000;
    seeds.push({ ...structuredClone(ex.seed), seed_id: seedId, problem: fill(TOPICS[topic]![1], r), source_id: `train/${i}.json`, ingested_at: at });
    // KCs of the pool's first 80%: the rest are never extracted (coverage counts only extracted KCs).
    const kcs = [...new Set(Array.from({ length: 2 + Math.floor(r() * 3) }, () => Math.floor(r() * nKcs * 0.8)))];
    seedKcs.push(kcs);
    concepts.push({
      ...structuredClone(ex.concepts),
      concepts_id: `concepts-${seedId}`,
      seed_id: seedId,
      kcs: kcs.map((k) => ({ kc_id: kcId(k), name: kcName(k), raw_name: kcName(k), outcome: 'exact', similarity: 1 })),
      lineage: {
        seed_ids: [seedId],
        kc_ids: kcs.map(kcId),
        combo_id: null,
        steps: [step('extract', 'instruct', `extract-${seedId}`, r), step('filter', 'instruct-small', `filter-${seedId}`, r)],
      },
      created_at: at + 1_000,
    });
  }

  const pairs: Combination[] = [];
  const candidates: Candidate[] = [];
  const verdicts: Verdict[] = [];
  let planted = 0;
  let replays = 0;
  for (let i = 0; i < nCombos; i++) {
    const rel = RELATIONS[i % RELATIONS.length]!;
    const seedA = Math.floor(r() * nSeeds);
    const seedB = Math.floor(r() * nSeeds);
    const a = seedKcs[seedA]![0]!;
    const b = seedKcs[seedB]![seedKcs[seedB]!.length - 1]!;
    const comboId = `combo-${String(i).padStart(5, '0')}`;
    const kcIds = [kcId(a), kcId(b)];
    const at = BASE_MS + 10 * 60_000 + i * 9_000; // combinations over ~24 minutes after the seeds
    const lineage = { seed_ids: [...new Set([`seed-${String(seedA).padStart(4, '0')}`, `seed-${String(seedB).padStart(4, '0')}`])].sort(), kc_ids: kcIds, combo_id: comboId, steps: [] };
    pairs.push({
      ...structuredClone(ex.pair),
      combo_id: comboId,
      key: [...kcIds].sort().join('|'),
      kc_ids: kcIds,
      kc_names: [kcName(a), kcName(b)],
      relation: rel.relation,
      hop: rel.hop,
      witness: kcIds,
      weight: 1 + Math.floor(r() * 5),
      novel: r() < rel.novel,
      lineage,
      created_at: at,
    });
    if (i % 10 === 9) continue; // some combinations have no candidate yet (or synthesis dead-lettered)
    const candId = `cand-${String(i).padStart(5, '0')}`;
    const problem = `${fill(TOPICS[a % TOPICS.length]![1], r)} Then use ${kcName(b)} to finish.`;
    const candSteps = [step('synthesize', 'instruct', `synthesize-${candId}`, r), step('difficulty', 'instruct', `difficulty-${candId}`, r), step('solve', 'math', `solve-${candId}`, r)];
    const candidate: Candidate = {
      ...structuredClone(ex.candidate),
      candidate_id: candId,
      combo_id: comboId,
      relation: rel.relation,
      hop: rel.hop,
      novel: pairs[pairs.length - 1]!.novel,
      kc_ids: kcIds,
      kc_names: [kcName(a), kcName(b)],
      problem,
      lineage: { ...lineage, steps: candSteps },
      created_at: at + 2_000,
    };
    candidates.push(candidate);
    const configs = replays < nReplayed ? [JUDGE_OLD, JUDGE_NEW] : [JUDGE_NEW];
    if (configs.length === 2) replays++;
    for (const config of configs) {
      const accepted = r() < (config === JUDGE_OLD ? 0.5 : rel.accept);
      // The new config runs the quality gates and the self-consistency check (LLM step `verify`):
      // some rejections come from a gate or a disagreement, before any judge call.
      const checks = config === JUDGE_NEW;
      const early: string | null = checks && !accepted && i % 5 === 1 ? GATE_REASONS[i % GATE_REASONS.length]! : checks && !accepted && i % 5 === 2 ? 'self_consistency' : null;
      const verified = checks && (early === null || early === 'self_consistency');
      const made = early !== null ? 0 : accepted ? 6 : 3 + Math.floor(r() * 3);
      const scored = made > 0 && !(made === 3 && r() < 0.5);
      let verdictProblem = problem;
      if (accepted && config === JUDGE_NEW && opts.planted && planted < opts.planted.length && i % 7 === 0) verdictProblem = opts.planted[planted++]!;
      const score = scored ? Math.round((accepted ? 0.85 + r() * 0.15 : 0.4 + r() * 0.5) * 100) / 100 : null;
      // The old config judged earlier (a replay then re-judged with the new config).
      const judgedAt = config === JUDGE_OLD ? BASE_MS + 5 * 60_000 + i * 1_000 : at + 4_000;
      verdicts.push({
        ...structuredClone(ex.verdict),
        verdict_id: `verdict-${config}-${candId}`,
        candidate_id: candId,
        combo_id: comboId,
        judge_config_version: config,
        accepted,
        reason: accepted ? 'accepted' : (early ?? 'problem_score_below_threshold'),
        problem_score: score,
        calls_made: made,
        calls_saved: 6 - made,
        contamination_overlap: overlapOf(verdictProblem),
        contamination_match: null,
        relation: rel.relation,
        hop: rel.hop,
        novel: candidate.novel,
        kc_ids: kcIds,
        kc_names: candidate.kc_names,
        problem: verdictProblem,
        lineage: {
          ...lineage,
          steps: [
            ...candSteps,
            ...(verified ? [step('verify', 'instruct', `verify-${config}-${candId}`, r)] : []),
            ...Array.from({ length: made }, (_, k) => step(`judge_${(k % 3) + 1}`, 'judge', `judge-${config}-${candId}-${k}`, r)),
          ],
        },
        created_at: judgedAt,
      });
    }
  }

  const deadLetters: DeadLetterRow[] = [
    ...Array.from({ length: 2 }, (_, k) => deadLetter('concept-extractor', 'grip.seeds', k, r)),
    ...Array.from({ length: 3 }, (_, k) => deadLetter('problem-synth', 'grip.pairs', k, r)),
    deadLetter('judge', 'grip.candidates', 0, r),
  ];
  return { seeds, concepts, pairs, candidates, verdicts, deadLetters };
}

/** A dead letter as the sink stores it: a real DLQ record through the real row mapper. */
function deadLetter(stage: string, sourceTopic: string, offset: number, r: () => number): DeadLetterRow {
  const at = BASE_MS + 12 * 60_000 + Math.floor(r() * 600_000);
  const original = { topic: sourceTopic, partition: 0, offset: BigInt(offset), key: Buffer.from(`key-${offset}`), value: Buffer.from('{}'), headers: {}, timestamp: BigInt(at) };
  const out = dlqRecord(`${sourceTopic}.dlq`, original, { stage, reason: 'invalid_output', detail: 'the model answered no JSON', now: at });
  return deadLetterRow({ dlqTopic: out.topic, key: out.key, value: out.value, headers: out.headers as Record<string, string>, timestamp: at });
}

/** Every tenth message of each kind: insert these a second time (same id, same content). */
export function duplicates(data: SyntheticData): SyntheticData {
  const every = <T>(xs: T[]) => xs.filter((_, i) => i % 10 === 0);
  return {
    seeds: every(data.seeds),
    concepts: every(data.concepts),
    pairs: every(data.pairs),
    candidates: every(data.candidates),
    verdicts: every(data.verdicts),
    deadLetters: data.deadLetters.slice(0, 2),
  };
}

/** Writes a data set through the sink's row mappers and a ClickHouseWriter-like `add`; resolves once all were accepted. */
export async function writeSynthetic(writer: { add(table: string, rows: object[]): Promise<void>; flush(): Promise<void> }, data: SyntheticData): Promise<void> {
  const topics: Array<[SinkTopic, unknown[]]> = [
    ['grip.seeds', data.seeds],
    ['grip.concepts', data.concepts],
    ['grip.pairs', data.pairs],
    ['grip.candidates', data.candidates],
    ['grip.verdicts', data.verdicts],
  ];
  const pending: Promise<void>[] = [];
  for (const [topic, values] of topics) {
    if (values.length === 0) continue;
    const mapped = values.map((v) => rowFor(topic, v as never));
    pending.push(writer.add(mapped[0]!.table, mapped.map((m) => m.row)));
  }
  if (data.deadLetters.length) pending.push(writer.add('dead_letters', data.deadLetters));
  await writer.flush();
  await Promise.all(pending);
}
