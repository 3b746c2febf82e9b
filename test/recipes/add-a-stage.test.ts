/**
 * Recipe: add a stage. A contributor who wants one more LLM step between problem-synth and the judge
 * (here a "reviewer" that asks a model to look at each candidate and passes it on) edits:
 *
 *   1. services/reviewer/stage.ts      the declaration below (name, topics, LLM steps, port, setup)
 *   2. services/stages.ts              adds `reviewer` to PIPELINE_STAGES, before `judge`
 *   3. services/judge/stage.ts         `input: 'grip.reviewed'` instead of 'grip.candidates'
 *   4. schemas/topics.yaml             the topic below, and the ownership lines it changes
 *   (then `npm run schemas:gen`, which adds the topic to the generated TopicName type)
 *
 * Nothing else: service names, ports, consumer groups, GRIP_LLM_REVIEW_* variables and `llm.stages`
 * keys, `grip services up`, `grip replay` and `grip run` all follow the declarations. This test does
 * the same without editing files (the declaration in memory, the topic added to the catalog as the
 * YAML entry would add it) and runs `grip run` with the longer pipeline on a scripted model.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTemplate } from '../../core/prompts/index.ts';
import { addTopic } from '../../schemas/catalog.ts';
import type { Candidate, TopicName } from '../../schemas/generated/types.ts';
import { runPipeline } from '../../cli/run/pipeline.ts';
import { createProgress } from '../../cli/run/progress.ts';
import { loadConfig, REPO_ROOT } from '../../services/runtime/config.ts';
import { dlqOnModelFailure, ok, tracedCall, withLineage } from '../../services/runtime/handler.ts';
import { parseRunFile, resolveRunSettings } from '../../services/runtime/settings.ts';
import { llmStageFlow } from '../../services/runtime/llm-flow.ts';
import { declareStage } from '../../services/runtime/stage.ts';
import { LLM_STEPS, PIPELINE_STAGES } from '../../services/stages.ts';
import { judge } from '../../services/judge/stage.ts';
import { answerGripPrompt } from '../fixtures/grip-answers.ts';
import { startFakeOpenAI, type FakeOpenAI } from '../fixtures/openai-server.ts';

// 1. services/reviewer/stage.ts
const reviewPrompt = defineTemplate({
  name: 'review',
  maxTokens: 50,
  system: 'You review mathematics problems.',
  user: 'Is this problem self-contained? {{problem}} Answer with a JSON object: "ok" (true or false).',
  vars: { problem: 'untrusted' },
  answer: z.object({ ok: z.boolean() }),
});

const reviewer = declareStage<Candidate, Candidate, Candidate>({
  name: 'reviewer',
  description: 'candidates -> the same candidates, each looked at by a model first',
  input: 'grip.candidates',
  output: 'grip.reviewed' as TopicName, // a generated name once topics.yaml has it
  llmSteps: ['review'],
  port: 9407,
  scaling: 'any',
  consumer: (ctx) => llmStageFlow(ctx.settings.concurrency, ctx.llm()),
  async setup(ctx) {
    const llm = ctx.llm();
    return {
      handle: (candidate) =>
        dlqOnModelFailure(async () => {
          const { steps } = await withLineage(() => tracedCall(llm, 'review', reviewPrompt, { problem: candidate.problem }));
          return ok({ ...candidate, lineage: { ...candidate.lineage, steps: [...candidate.lineage.steps, ...steps] } });
        }),
    };
  },
});

// 2 and 3. services/stages.ts and services/judge/stage.ts
const stages = [...PIPELINE_STAGES.filter((s) => s !== judge), reviewer, { ...judge, input: 'grip.reviewed' as TopicName }];

// 4. schemas/topics.yaml
const reviewedTopic = {
  schema: 'avro/grip.candidates.avsc',
  key: 'candidate_id',
  partitions: 6,
  config: { 'cleanup.policy': 'compact' },
  dlq: 'grip.reviewed.dlq',
  producers: ['reviewer'],
  consumers: ['judge'],
};

let server: FakeOpenAI;
beforeAll(async () => {
  addTopic('grip.reviewed', reviewedTopic);
  server = await startFakeOpenAI({
    reply: (body) => ((body as any).response_format?.json_schema?.name === 'review' ? { content: JSON.stringify({ ok: true }) } : answerGripPrompt(body)),
  });
});
afterAll(() => server.close());

describe('recipe: add a stage between problem-synth and the judge', () => {
  it('runs in grip run with no other edit: every verdict went through the new stage and its LLM step', async () => {
    const config = loadConfig({ GRIP_LLM_BASE_URL: server.baseUrl, GRIP_EMBEDDINGS_BASE_URL: server.baseUrl });
    const steps = [...LLM_STEPS, ...reviewer.llmSteps];
    const settings = resolveRunSettings(parseRunFile({ combinations: 6, concurrency: 2 }), {}, config, steps);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-recipe-'));
    const report = await runPipeline({
      seedsFile: path.join(REPO_ROOT, 'data', 'seeds', 'math-train-sample.jsonl.gz'),
      outDir: out,
      limit: 6,
      fields: { problem: 'problem', solution: 'solution' },
      settings,
      progress: createProgress('quiet'),
      stages,
    });
    expect(report.verdicts).toBeGreaterThan(0);
    expect(report.verdicts).toBe(report.candidates);
    const verdicts = fs.readFileSync(path.join(out, '.grip', 'verdicts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    for (const v of verdicts) expect(v.lineage.steps.map((s: { stage: string }) => s.stage)).toContain('review');
    const reviews = server.requests.filter((r) => r.body.response_format?.json_schema?.name === 'review');
    expect(reviews.length).toBe(report.candidates);
    expect(report.llm.by_stage.review?.calls).toBe(report.candidates);
  }, 60_000);
});
