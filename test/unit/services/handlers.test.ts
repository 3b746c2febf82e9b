import { afterEach, describe, expect, it } from 'vitest';
import { createKcRegistry } from '../../../core/concepts/index.ts';
import { createDeduper } from '../../../core/dedup/index.ts';
import { createNgramIndex } from '../../../core/decontam/index.ts';
import { loadExamples } from '../../../schemas/catalog.ts';
import type { Candidate, Seed, SeedConcepts } from '../../../schemas/generated/types.ts';
import { extractConcepts, llmSynonymCheck } from '../../../services/concept-extractor/handler.ts';
import { ConceptGraphStage } from '../../../services/concept-graph/graph.ts';
import { commitVerdict, judgeCandidate, type JudgeDeps } from '../../../services/judge/handler.ts';
import { synthesizeProblem } from '../../../services/problem-synth/handler.ts';
import { loadDomain } from '../../../services/runtime/domains.ts';
import { LlmClient } from '../../../services/runtime/llm.ts';
import { startFakeOpenAI, type FakeOpenAI, type ScriptedReply } from '../../fixtures/openai-server.ts';

const STAGES = ['extract', 'filter', 'synonym', 'synthesize', 'difficulty', 'solve', 'solve_hard', 'verify', 'judge_1', 'judge_2', 'judge_3'];
let server: FakeOpenAI | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A scripted model: answers by the prompt (the response schema's name) and the request's model. */
async function scriptedModel(answer: (prompt: string, model: string, userText: string) => unknown): Promise<LlmClient> {
  server = await startFakeOpenAI({
    reply: (body): ScriptedReply => {
      const prompt = (body as any).response_format.json_schema.name;
      const value = answer(prompt, body.model, body.messages.at(-1)!.content);
      return { content: typeof value === 'string' ? value : JSON.stringify(value) };
    },
  });
  const endpoints = Object.fromEntries(STAGES.map((s) => [s, { baseUrl: server!.baseUrl, model: `model-${s}`, apiKey: 'k' }]));
  return new LlmClient({ endpoints, maxReasks: 1, backoff: { initialMs: 1, maxMs: 2, factor: 2 } });
}

const seed: Seed = loadExamples('grip.seeds')[0].value;
const candidate: Candidate = loadExamples('grip.candidates')[0].value;
const now = () => 1_795_521_600_000;

describe('concept-extractor handler', () => {
  it('extracts, filters and canonicalizes KCs with full lineage', async () => {
    const llm = await scriptedModel((prompt) =>
      prompt === 'kc_extraction'
        ? { kcs: ['Distance formula', 'Pythagorean theorem', 'adding numbers', 'distance formula'] }
        : { decisions: [{ kc: 'adding numbers', keep: false, reason: 'a skill' }, { kc: 'Distance formula', keep: true, reason: '' }] },
    );
    const registry = createKcRegistry({ embed: async (names) => names.map((_, i) => [i === 0 ? 1 : 0, i === 0 ? 0 : 1]) });
    const result = await extractConcepts(seed, { llm, registry, now });
    expect(result.kind).toBe('ok');
    if (result.kind !== 'ok') return;
    const concepts = result.value;
    expect(concepts.kcs.map((k) => k.raw_name)).toEqual(['Distance formula', 'Pythagorean theorem']);
    expect(concepts.dropped).toEqual([{ raw_name: 'adding numbers', reason: 'a skill' }]);
    expect(concepts.lineage.steps.map((s) => s.stage)).toEqual(['extract', 'filter']);
    expect(concepts.lineage.kc_ids).toEqual(concepts.kcs.map((k) => k.kc_id));
    expect(loadExamples('grip.concepts').length).toBeGreaterThan(0);

    // Redelivery: same ids, every answer from the cache.
    const again = await extractConcepts(seed, { llm, registry, now });
    expect(again.kind === 'ok' && again.value.concepts_id).toBe(concepts.concepts_id);
    if (again.kind !== 'ok') throw new Error(again.kind);
    expect(again.value.concepts_id).toBe(concepts.concepts_id);
    expect(again.value.kcs.map((k) => [k.kc_id, k.outcome])).toEqual(concepts.kcs.map((k) => [k.kc_id, 'exact']));
    expect(server!.requests).toHaveLength(2);
  });

  it('records synonym checks made by the registry in the lineage', async () => {
    const llm = await scriptedModel((prompt) =>
      prompt === 'kc_extraction' ? { kcs: ['Pythagoras theorem'] } : prompt === 'kc_filter' ? { decisions: [{ kc: 'Pythagoras theorem', keep: true, reason: '' }] } : { same: true, representative: 'Pythagorean theorem' },
    );
    // cosine 0.8 between the two names: inside the synonym band
    const registry = createKcRegistry({ embed: async (names) => names.map((n) => (n.startsWith('Pythagoras') ? [0.8, 0.6] : [1, 0])), synonymCheck: llmSynonymCheck(llm) });
    await registry.add({ name: 'Pythagorean theorem' });
    const result = await extractConcepts(seed, { llm, registry, now });
    expect(result.kind === 'ok' && result.value.kcs[0]).toMatchObject({ outcome: 'synonym', name: 'Pythagorean theorem' });
    expect(result.kind === 'ok' && result.value.lineage.steps.map((s) => s.stage)).toEqual(['extract', 'filter', 'synonym']);
  });

  it('sends a seed to the DLQ when the model never answers validly', async () => {
    const llm = await scriptedModel(() => ({ kcs: [] }));
    const result = await extractConcepts(seed, { llm, registry: createKcRegistry(), now });
    expect(result).toMatchObject({ kind: 'dlq', reason: 'llm_invalid_answer' });
    expect(result.kind === 'dlq' && result.detail).toMatch(/extract/);
  });
});

describe('concept-graph stage', () => {
  it('emits each canonical key once, with names, relation and lineage', () => {
    const stage = new ConceptGraphStage({ seed: 7, quotas: { '1-hop': 0.5, '2-hop': 0.5 } });
    const concepts = (seedId: string, kcs: string[]): SeedConcepts => ({
      concepts_id: `c-${seedId}`, seed_id: seedId, dropped: [], created_at: 0,
      kcs: kcs.map((k) => ({ kc_id: k, name: `name of ${k}`, raw_name: k, outcome: 'new', similarity: 1 })),
      lineage: { seed_ids: [seedId], kc_ids: kcs, combo_id: null, steps: [] },
    });
    stage.ingest(concepts('s1', ['a', 'b']));
    stage.ingest(concepts('s2', ['b', 'c']));
    stage.ingest(concepts('s3', []));
    stage.ingest(concepts('s1', ['a', 'b'])); // redelivered
    const first = stage.sample(10, 0);
    const keys = first.map((c) => c.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.sort()).toEqual(['a|b', 'a|c', 'b|c']);
    const twoHop = first.find((c) => c.key === 'a|c')!;
    expect(twoHop).toMatchObject({ relation: '2-hop', hop: 2, novel: true, kc_names: ['name of a', 'name of c'], witness: ['a', 'b', 'c'] });
    expect(twoHop.lineage.seed_ids).toEqual(['s1', 's2']);
    expect(stage.sample(10, 0)).toEqual([]);
  });
});

describe('problem-synth handler', () => {
  it('routes hard problems to the hard solver and carries lineage forward', async () => {
    const llm = await scriptedModel((prompt) =>
      prompt === 'problem_synthesis' ? { problem: 'Find the radius of the circle through (0,0), (6,0), (0,8).' }
        : prompt === 'difficulty_rating' ? { difficulty: 'hard', reason: 'x' }
          : { solution: 'The hypotenuse is a diameter: 10/2 = \\boxed{5}', final_answer: '5' },
    );
    const combo = loadExamples('grip.pairs')[0].value;
    const result = await synthesizeProblem(combo, { llm, now });
    expect(result.kind).toBe('ok');
    if (result.kind !== 'ok') return;
    expect(result.value).toMatchObject({ difficulty: 'hard', final_answer: '5', combo_id: combo.combo_id, relation: combo.relation });
    expect(result.value.lineage.steps.map((s) => s.stage)).toEqual(['synthesize', 'difficulty', 'solve_hard']);
    expect(result.value.lineage.seed_ids).toEqual(combo.lineage.seed_ids);
  });
});

describe('judge handler', () => {
  const math = loadDomain('competition-math');
  const deps = async (answer: (prompt: string, model: string) => unknown, extra: Partial<JudgeDeps> = {}): Promise<JudgeDeps> => ({
    llm: await scriptedModel(answer),
    settings: {
      rules: { judges: [{ id: 'judge_1', weight: 0.4 }, { id: 'judge_2', weight: 0.35 }, { id: 'judge_3', weight: 0.25 }], problemThreshold: 0.85 },
      contaminationRejectWords: 13,
      dedup: { threshold: 0.8, seed: 1 },
      domain: math.name,
      gates: math.gates,
      normalizer: math.normalizer,
      selfConsistency: false,
    },
    decontam: null,
    deduper: createDeduper(),
    judgeModels: { judge_1: 'model-judge_1', judge_2: 'model-judge_2', judge_3: 'model-judge_3' },
    now,
    ...extra,
  });

  it('accepts when every score and vote passes, with all six calls', async () => {
    const d = await deps((prompt) => (prompt === 'problem_judgement' ? { score: 9, reason: '' } : { vote: 1, reason: '' }));
    const result = await judgeCandidate(candidate, d);
    expect(result.kind === 'ok' && result.value).toMatchObject({ accepted: true, reason: 'accepted', calls_made: 6, calls_saved: 0 });
    expect(result.kind === 'ok' && result.value.problem_score).toBeCloseTo(0.9);
  });

  it('stops at the first veto and at a hopeless problem score, counting the calls saved', async () => {
    const veto = await deps((prompt, model) => (prompt === 'problem_judgement' ? { score: 10, reason: '' } : { vote: model === 'model-judge_1' ? 0 : 1, reason: '' }));
    const vetoed = await judgeCandidate(candidate, veto);
    expect(vetoed.kind === 'ok' && vetoed.value).toMatchObject({ accepted: false, reason: 'solution_vetoed_by:judge_1', calls_made: 4, calls_saved: 2 });
    await server!.close();

    const low = await deps(() => ({ score: 0, reason: 'broken' }));
    const rejected = await judgeCandidate(candidate, low);
    expect(rejected.kind === 'ok' && rejected.value).toMatchObject({ accepted: false, reason: 'problem_score_below_threshold', calls_made: 1, calls_saved: 5 });
    expect(rejected.kind === 'ok' && rejected.value.judges.map((j) => j.problem_score)).toEqual([0, null, null]);
  });

  it('rejects a contaminated or duplicate candidate without any model call', async () => {
    const decontam = createNgramIndex([{ id: 'bench-1', source: 'math', text: candidate.problem }]);
    const d = await deps(() => ({ score: 10, reason: '' }), { decontam });
    const contaminated = await judgeCandidate(candidate, d);
    expect(contaminated.kind === 'ok' && contaminated.value).toMatchObject({ accepted: false, reason: 'contaminated', calls_made: 0, calls_saved: 6, contamination_match: 'math:bench-1' });

    const deduper = createDeduper();
    deduper.addReference(seed.seed_id, candidate.problem);
    const dup = await judgeCandidate(candidate, { ...d, decontam: null, deduper });
    expect(dup.kind === 'ok' && dup.value).toMatchObject({ accepted: false, reason: 'duplicate', duplicate_of: seed.seed_id, calls_made: 0 });
    expect(server!.requests).toHaveLength(0);
  });

  it('rejects a pair that fails a quality gate without any model call, naming the gate', async () => {
    const d = await deps(() => ({ score: 10, reason: '' }));
    const garbage = { ...candidate, final_answer: 'final_answer', solution: 'So the answer is \\boxed{final_answer}.' };
    const result = await judgeCandidate(garbage, d);
    expect(result.kind === 'ok' && result.value).toMatchObject({ accepted: false, reason: 'gate:leftover', calls_made: 0, calls_saved: 6 });
    expect(server!.requests).toHaveLength(0);
  });

  it('self-consistency: an independent solve that disagrees rejects before the judges; one that agrees lets them judge', async () => {
    let checkAnswer = '24';
    const d = await deps((prompt) => (prompt === 'answer_check' ? { work: 'r = 5', final_answer: checkAnswer } : prompt === 'problem_judgement' ? { score: 10, reason: '' } : { vote: 1, reason: '' }));
    d.settings = { ...d.settings, selfConsistency: true };
    const disagree = await judgeCandidate(candidate, d);
    expect(disagree.kind === 'ok' && disagree.value).toMatchObject({ accepted: false, reason: 'self_consistency', calls_made: 0, calls_saved: 6 });
    expect(disagree.kind === 'ok' && disagree.value.lineage.steps.at(-1)?.stage).toBe('verify');
    expect(server!.requests).toHaveLength(1);
    checkAnswer = '(x - 1)^2 + (y - 2)^2 = 25';
    const agree = await judgeCandidate({ ...candidate, candidate_id: 'cand-2', problem: `${candidate.problem} Give it in standard form.` }, d);
    expect(agree.kind === 'ok' && agree.value).toMatchObject({ accepted: true, reason: 'accepted', calls_made: 6 });
    expect(agree.kind === 'ok' && agree.value.lineage.steps.map((s) => s.stage).filter((s) => !s.startsWith('judge'))).toContain('verify');
  });

  it('makes new verdict ids when a judging-relevant setting changes (domain, gates, self-consistency)', async () => {
    const d = await deps((prompt) => (prompt === 'answer_check' ? { work: '', final_answer: '(x-1)^2+(y-2)^2=25' } : prompt === 'problem_judgement' ? { score: 10, reason: '' } : { vote: 1, reason: '' }));
    const id = async (settings: JudgeDeps['settings']) => {
      const r = await judgeCandidate(candidate, { ...d, settings });
      return r.kind === 'ok' ? r.value.judge_config_version : '';
    };
    const base = await id(d.settings);
    const others = [
      await id({ ...d.settings, selfConsistency: true }),
      await id({ ...d.settings, gates: { ...math.gates, max_answer_words: 3 } }),
      await id({ ...d.settings, gates: null }),
      await id({ ...d.settings, domain: 'grade-school-math' }),
    ];
    expect(new Set([base, ...others]).size).toBe(5);
  });

  it('commits acceptances in order: the second copy of an accepted problem becomes a duplicate', async () => {
    const d = await deps((prompt) => (prompt === 'problem_judgement' ? { score: 10, reason: '' } : { vote: 1, reason: '' }));
    const a = await judgeCandidate(candidate, d);
    const b = await judgeCandidate({ ...candidate, candidate_id: 'cand-other' }, d);
    if (a.kind !== 'ok' || b.kind !== 'ok') throw new Error('expected verdicts');
    const deduper = d.deduper as ReturnType<typeof createDeduper>;
    expect(commitVerdict(a.value, deduper).accepted).toBe(true);
    expect(commitVerdict(b.value, deduper)).toMatchObject({ accepted: false, reason: 'duplicate', duplicate_of: a.value.verdict_id });
  });

  it('gives another threshold another verdict id', async () => {
    const d = await deps((prompt) => (prompt === 'problem_judgement' ? { score: 10, reason: '' } : { vote: 1, reason: '' }));
    const strict = { ...d, settings: { ...d.settings, rules: { ...d.settings.rules, problemThreshold: 0.95 } } };
    const [x, y] = await Promise.all([judgeCandidate(candidate, d), judgeCandidate(candidate, strict)]);
    if (x.kind !== 'ok' || y.kind !== 'ok') throw new Error(`expected verdicts, got ${x.kind} and ${y.kind}`);
    expect(x.value.verdict_id).not.toBe(y.value.verdict_id);
    expect(y.value.threshold).toBe(0.95);
  });
});
