/**
 * The judge keeps, per verdict, only the hash of its candidate id (issue 21): a candidate that was
 * settled before (a redelivery after a restart, a copy delivered twice at once) gets no second
 * verdict, whether the first came from this process or from grip.verdicts at start. The real
 * declaration on the in-process transport, against a scripted model.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Candidate, Verdict } from '../../../schemas/generated/types.ts';
import { judge } from '../../../services/judge/stage.ts';
import { loadConfig, REPO_ROOT } from '../../../services/runtime/config.ts';
import { EmbeddingsClient } from '../../../services/runtime/embeddings.ts';
import { ensureTopics, InProcessTransport, localSerde } from '../../../services/runtime/kafka/index.ts';
import { LlmClient } from '../../../services/runtime/llm.ts';
import { jsonLogger } from '../../../services/runtime/log.ts';
import { parseRunFile, resolveRunSettings } from '../../../services/runtime/settings.ts';
import { groupOf, startStage, type StageSetupContext } from '../../../services/runtime/stage.ts';
import { LLM_STEPS } from '../../../services/stages.ts';
import { answerGripPrompt } from '../../fixtures/grip-answers.ts';
import { startFakeOpenAI, type FakeOpenAI } from '../../fixtures/openai-server.ts';

const example = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'schemas/examples/grip.candidates/two-hop.json'), 'utf8')) as Candidate;

/** Distinct candidates (distinct problems, so dedup keeps them apart). */
function candidate(i: number): Candidate {
  const id = `cand-${String(i).padStart(24, '0')}`;
  return { ...example, candidate_id: id, combo_id: `combo-${String(i).padStart(24, '0')}`, problem: `${example.problem} Variant ${i}: then find the radius of the circle through $(${i},${2 * i + 1})$ with the same centre.` };
}

let server: FakeOpenAI | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('judge: one verdict per candidate, from hashes of settled ids', () => {
  it('a candidate settled before a restart, or delivered twice at once, gets no second verdict', async () => {
    server = await startFakeOpenAI({ reply: (body) => answerGripPrompt(body), latencyMs: 5 });
    const config = loadConfig({ GRIP_LLM_BASE_URL: server.baseUrl, GRIP_EMBEDDINGS_BASE_URL: server.baseUrl });
    const settings = resolveRunSettings(parseRunFile({ concurrency: 4, seed: 3 }), {}, config, LLM_STEPS);
    const transport = new InProcessTransport({ now: () => 0 });
    const serde = localSerde();
    await ensureTopics(transport.admin());
    const llm = new LlmClient({ endpoints: settings.endpoints, concurrency: settings.concurrency });
    const ctx: StageSetupContext = { settings, transport, serde, log: jsonLogger('judge-test', { write: () => true } as unknown as NodeJS.WritableStream), now: () => 0, llm: () => llm, embeddings: () => new EmbeddingsClient({ endpoint: settings.embeddingsEndpoint }) };
    const produce = async (values: Candidate[]) =>
      transport.producer().send(await Promise.all(values.map(async (v) => ({ topic: 'grip.candidates' as const, key: serde.keyOf('grip.candidates', v), value: await serde.encode('grip.candidates', v) }))));
    const runToEnd = async () => {
      const started = await startStage(judge, ctx, { maxRetries: 2 });
      const admin = transport.admin();
      for (;;) {
        const [ends, committed] = await Promise.all([admin.endOffsets(['grip.candidates']), admin.groupOffsets(groupOf(judge), ['grip.candidates'])]);
        if (ends.every((e) => (committed.find((c) => c.partition === e.partition)?.offset ?? 0n) >= e.offset)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await started.stop();
      await started.done;
    };
    const verdicts = async () => Promise.all(transport.records('grip.verdicts').map(async (r) => (await serde.decode('grip.verdicts', r.value!)) as Verdict));

    // First life: candidates 0-3, candidate 1 delivered twice at once.
    await produce([candidate(0), candidate(1), candidate(1), candidate(2), candidate(3)]);
    await runToEnd();
    const first = await verdicts();
    expect(first.map((v) => v.candidate_id).sort()).toEqual([0, 1, 2, 3].map((i) => candidate(i).candidate_id).sort());

    // Second life (state rebuilt from grip.verdicts): 0 and 3 again, and a new one.
    await produce([candidate(0), candidate(4), candidate(3)]);
    await runToEnd();
    const all = await verdicts();
    const perCandidate = new Map<string, number>();
    for (const v of all) perCandidate.set(v.candidate_id, (perCandidate.get(v.candidate_id) ?? 0) + 1);
    expect([...perCandidate.entries()].sort()).toEqual([0, 1, 2, 3, 4].map((i) => [candidate(i).candidate_id, 1] as [string, number]).sort());
    // The first verdicts stand as written.
    expect(all.slice(0, first.length)).toEqual(first);
  });
});
