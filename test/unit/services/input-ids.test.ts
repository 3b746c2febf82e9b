/**
 * Output ids come from inputs only (issue 10): a redelivery handled by another instance, whose model
 * is not bit-reproducible (vLLM, batched llama.cpp), must land on the same row. The fake model
 * below answers every call differently, and each "instance" has its own answer cache.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createKcRegistry } from '../../../core/concepts/index.ts';
import { loadExamples } from '../../../schemas/catalog.ts';
import type { Seed } from '../../../schemas/generated/types.ts';
import { extractConcepts } from '../../../services/concept-extractor/handler.ts';
import { synthesizeProblem } from '../../../services/problem-synth/handler.ts';
import { LlmClient } from '../../../services/runtime/llm.ts';
import { startFakeOpenAI, type FakeOpenAI } from '../../fixtures/openai-server.ts';

const STAGES = ['extract', 'filter', 'synonym', 'synthesize', 'difficulty', 'solve', 'solve_hard'];
let server: FakeOpenAI | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A model whose every answer differs from the one before (call n says n). */
async function unreproducibleModel(): Promise<{ instance: (models?: Record<string, string>) => LlmClient }> {
  let n = 0;
  server = await startFakeOpenAI({
    reply: (body) => {
      n++;
      const prompt = (body as any).response_format.json_schema.name as string;
      const answers: Record<string, unknown> = {
        kc_extraction: { kcs: [`Concept number ${n}`, 'Pythagorean theorem'] },
        kc_filter: { decisions: [{ kc: 'Pythagorean theorem', keep: true, reason: '' }] },
        problem_synthesis: { problem: `Problem variant ${n}: a right triangle has legs 3 and 4; find the hypotenuse x.` },
        difficulty_rating: { difficulty: n % 2 === 0 ? 'hard' : 'easy', reason: `${n}` },
        solution: { solution: `x = \\boxed{${n}}`, final_answer: `${n}` },
      };
      return { content: JSON.stringify(answers[prompt]) };
    },
  });
  const baseUrl = server.baseUrl;
  return {
    instance: (models = {}) =>
      new LlmClient({ endpoints: Object.fromEntries(STAGES.map((s) => [s, { baseUrl, model: models[s] ?? `model-${s}`, apiKey: 'k' }])), backoff: { initialMs: 1, maxMs: 2, factor: 2 } }),
  };
}

const now = () => 1_795_521_600_000;
const seed: Seed = loadExamples('grip.seeds')[0].value;
const combo = loadExamples('grip.pairs')[0].value;
const embed = async (names: string[]) => names.map((name) => Array.from({ length: 8 }, (_, i) => Math.sin(name.length * (i + 1) + name.charCodeAt(0))));

describe('ids derived from inputs only', () => {
  it('a combination handled twice by two instances with a model that answers differently gets one candidate_id', async () => {
    const model = await unreproducibleModel();
    const first = await synthesizeProblem(combo, { llm: model.instance(), now });
    const second = await synthesizeProblem(combo, { llm: model.instance(), now });
    if (first.kind !== 'ok' || second.kind !== 'ok') throw new Error(JSON.stringify([first, second]));
    expect(second.value.problem).not.toBe(first.value.problem);
    expect(second.value.candidate_id).toBe(first.value.candidate_id);
    // Another generator model is another candidate.
    const other = await synthesizeProblem(combo, { llm: model.instance({ synthesize: 'bigger-model' }), now });
    expect(other.kind === 'ok' && other.value.candidate_id).not.toBe(first.value.candidate_id);
  });

  it('a seed extracted twice by two instances with a model that answers differently gets one concepts_id', async () => {
    const model = await unreproducibleModel();
    const first = await extractConcepts(seed, { llm: model.instance(), registry: createKcRegistry({ embed }), now });
    const second = await extractConcepts(seed, { llm: model.instance(), registry: createKcRegistry({ embed }), now });
    if (first.kind !== 'ok' || second.kind !== 'ok') throw new Error(JSON.stringify([first, second]));
    expect(second.value.kcs.map((k) => k.raw_name)).not.toEqual(first.value.kcs.map((k) => k.raw_name));
    expect(second.value.concepts_id).toBe(first.value.concepts_id);
    const other = await extractConcepts(seed, { llm: model.instance({ extract: 'bigger-model' }), registry: createKcRegistry({ embed }), now });
    expect(other.kind === 'ok' && other.value.concepts_id).not.toBe(first.value.concepts_id);
  });
});
