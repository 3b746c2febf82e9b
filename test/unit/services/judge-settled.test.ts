/**
 * The judge keeps, per verdict, only the hash of its candidate id (issue 21): a candidate that was
 * settled before (a redelivery after a restart, a copy delivered twice at once) gets no second
 * verdict, whether the first came from this process or from grip.verdicts at start. The real
 * declaration on the in-process transport, against a scripted model.
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import type { Candidate, Verdict } from '../../../schemas/generated/types.ts';
import { judge } from '../../../services/judge/stage.ts';
import { JudgeState } from '../../../services/judge/state.ts';
import { loadConfig, REPO_ROOT } from '../../../services/runtime/config.ts';
import { EmbeddingsClient } from '../../../services/runtime/embeddings.ts';
import { checkpointFile } from '../../../services/runtime/checkpoint.ts';
import { ensureTopics, InProcessTransport, localSerde } from '../../../services/runtime/kafka/index.ts';
import { LlmClient } from '../../../services/runtime/llm.ts';
import { parseRunFile, resolveRunSettings } from '../../../services/runtime/settings.ts';
import { groupOf, startStage, type StageSetupContext } from '../../../services/runtime/stage.ts';
import { LLM_STEPS } from '../../../services/stages.ts';
import { answerGripPrompt } from '../../fixtures/grip-answers.ts';
import { startFakeOpenAI, type FakeOpenAI } from '../../fixtures/openai-server.ts';

const example = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'schemas/examples/grip.candidates/two-hop.json'), 'utf8')) as Candidate;

/** Distinct candidates: problems that share no word trigram, so dedup keeps them apart. */
const WORDS = ['circle', 'triangle', 'parabola', 'integer', 'prime', 'sequence', 'matrix', 'polygon', 'vector', 'series', 'digit', 'angle'];
function candidate(i: number): Candidate {
  const id = `cand-${String(i).padStart(24, '0')}`;
  const words = Array.from({ length: 14 }, (_, k) => `${WORDS[(i * 7 + k * 5) % WORDS.length]}${i}x${k}`).join(' ');
  return { ...example, candidate_id: id, combo_id: `combo-${String(i).padStart(24, '0')}`, problem: `Find the value: ${words}. What is the answer?` };
}

let server: FakeOpenAI | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** The judge on the in-process transport, against the scripted model: produce, run to the end, read. */
async function judgeWorld(opts: { checkpointDir?: string; threshold?: number } = {}) {
  server ??= await startFakeOpenAI({ reply: (body) => answerGripPrompt(body), latencyMs: 5 });
  const config = loadConfig({ GRIP_LLM_BASE_URL: server.baseUrl, GRIP_EMBEDDINGS_BASE_URL: server.baseUrl });
  const settings = resolveRunSettings(parseRunFile({ concurrency: 4, seed: 3, dedup: { threshold: opts.threshold ?? 0.8 }, judging: { self_consistency: false, threshold: 0.5 } }), {}, config, LLM_STEPS);
  const transport = new InProcessTransport({ now: () => 0 });
  const serde = localSerde();
  await ensureTopics(transport.admin());
  const llm = new LlmClient({ endpoints: settings.endpoints, concurrency: settings.concurrency });
  const logs: Array<{ message: string; fields: Record<string, unknown> }> = [];
  const ctx: StageSetupContext = {
    settings,
    transport,
    serde,
    log: (_level, message, fields = {}) => void logs.push({ message, fields }),
    now: () => 0,
    llm: () => llm,
    embeddings: () => new EmbeddingsClient({ endpoint: settings.embeddingsEndpoint }),
    checkpoints: opts.checkpointDir ? { dir: opts.checkpointDir } : undefined,
  };
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
  return { transport, produce, runToEnd, verdicts, logs, ctx };
}

describe('judge: one verdict per candidate, from hashes of settled ids', () => {
  it('a candidate settled before a restart, or delivered twice at once, gets no second verdict', async () => {
    const { produce, runToEnd, verdicts } = await judgeWorld();
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

describe('judge checkpoint', () => {
  // Near-copies of accepted problems among the second batch, so dedup state decides verdicts.
  const firstBatch = [0, 1, 2, 3, 4, 5].map(candidate);
  const copies = firstBatch.map((c, i) => ({ ...c, candidate_id: `cand-copy-of-${i}`, problem: `${c.problem} ` }));
  const secondBatch = [candidate(1), ...copies, candidate(6), candidate(7), candidate(3)];

  /** Writes the first batch's state (and its checkpoint, when dir is given); returns the world for the second life. */
  async function secondLife(dir: string | undefined, damage?: (file: string) => void) {
    const w = await judgeWorld({ checkpointDir: dir });
    await w.produce(firstBatch);
    await w.runToEnd();
    if (dir && damage) damage(checkpointFile(dir, 'judge'));
    const before = (await w.verdicts()).length;
    w.logs.length = 0;
    await w.produce(secondBatch);
    await w.runToEnd();
    const rebuilt = w.logs.find((l) => l.message === 'judge state rebuilt')!.fields;
    return { later: (await w.verdicts()).slice(before), restored: w.logs.some((l) => l.message === 'judge state restored from its checkpoint'), rebuilt, logs: w.logs };
  }
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'grip-judge-ckpt-'));

  it('a restart reads the checkpoint and only the records after it, and decides as a rebuild from the log does', async () => {
    const fromLog = await secondLife(undefined);
    expect(fromLog.restored).toBe(false);
    // copies of the accepted problems among the later candidates: the dedup state decides them
    expect(fromLog.later.some((v) => v.reason === 'duplicate')).toBe(true);

    const dir = tmp();
    const fromCheckpoint = await secondLife(dir);
    expect(fromCheckpoint.restored).toBe(true);
    expect(fromCheckpoint.rebuilt.verdicts_read).toBe(0); // the first life's verdicts are in the checkpoint
    expect(fromCheckpoint.rebuilt.verdicts_of_this_config).toBe(firstBatch.length);
    expect(fromCheckpoint.later).toEqual(fromLog.later);
  });

  it('a truncated, corrupted, foreign or other-settings checkpoint is ignored (with its reason), and the verdicts equal a rebuild', async () => {
    const fromLog = await secondLife(undefined);
    const damages: Record<string, (file: string) => void> = {
      truncated: (f) => fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2)),
      corrupted: (f) => {
        const b = fs.readFileSync(f);
        b[Math.floor(b.length * 0.7)] ^= 0xff;
        fs.writeFileSync(f, b);
      },
      empty: (f) => fs.writeFileSync(f, ''),
      other_format: (f) => fs.writeFileSync(f, fs.readFileSync(f).toString('latin1').replace('judge-state.v1', 'judge-state.v0'), 'latin1'),
    };
    for (const [name, damage] of Object.entries(damages)) {
      const r = await secondLife(tmp(), damage);
      expect(r.restored, name).toBe(false);
      expect(r.logs.some((l) => l.message.startsWith('judge checkpoint not used')), name).toBe(true);
      expect(r.rebuilt.verdicts_read, name).toBeGreaterThanOrEqual(firstBatch.length);
      expect(r.later, name).toEqual(fromLog.later);
    }

    // Written under another dedup threshold: ignored by a judge with the first threshold.
    const dir = tmp();
    const other = await judgeWorld({ checkpointDir: dir, threshold: 0.6 });
    await other.produce(firstBatch);
    await other.runToEnd();
    expect(fs.existsSync(checkpointFile(dir, 'judge'))).toBe(true);
    const w = await judgeWorld({ checkpointDir: dir });
    await w.produce(firstBatch);
    await w.runToEnd();
    expect(w.logs.find((l) => l.message.startsWith('judge checkpoint not used'))?.fields.reason).toMatch(/other settings/);
  }, 60_000);
});

describe('judge checkpoint after a reset of the logs', () => {
  it('is ignored when a log is shorter than its positions (topics deleted and made again): every candidate is judged anew', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-judge-ckpt-'));
    const first = await judgeWorld({ checkpointDir: dir });
    await first.produce([0, 1, 2, 3].map(candidate));
    await first.runToEnd();
    expect(fs.existsSync(checkpointFile(dir, 'judge'))).toBe(true);
    // a new, empty pipeline (the same state directory): the old state must not answer for it
    const reset = await judgeWorld({ checkpointDir: dir });
    await reset.produce([0, 1, 2, 3].map(candidate));
    await reset.runToEnd();
    expect(reset.logs.find((l) => l.message.startsWith('judge checkpoint not used'))?.fields.reason).toMatch(/was reset since/);
    expect((await reset.verdicts()).map((v) => v.candidate_id).sort()).toEqual([0, 1, 2, 3].map((i) => candidate(i).candidate_id).sort());
  }, 30_000);
});

describe('JudgeState: a checkpoint holds only what is in the log', () => {
  const options = { threshold: 0.8, seed: 1 };
  const verdictOf = (c: Candidate, accepted: boolean): Verdict => ({ ...(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'schemas/examples/grip.verdicts', fs.readdirSync(path.join(REPO_ROOT, 'schemas/examples/grip.verdicts'))[0]!), 'utf8')) as Verdict), candidate_id: c.candidate_id, verdict_id: `verdict-${c.candidate_id}`, judge_config_version: 'j-1', accepted, reason: accepted ? 'accepted' : 'problem_score_below_threshold', problem: c.problem });

  it('a verdict settled here but not read back from grip.verdicts is not in the checkpoint; one read back is', () => {
    const state = new JudgeState('j-1', options);
    const [a, b] = [candidate(1), candidate(2)];
    state.settle(verdictOf(a, true)); // sent, not yet read back
    state.applyVerdict(verdictOf(b, true)); // in the log
    expect(state.isSettled(a.candidate_id) && state.isSettled(b.candidate_id)).toBe(true);
    expect(state.check(a.problem).duplicate && state.check(b.problem).duplicate).toBe(true);

    const restored = JudgeState.importSections('j-1', options, state.exportSections());
    expect(restored.isSettled(b.candidate_id)).toBe(true);
    expect(restored.check(b.problem)).toMatchObject({ duplicate: true, matchId: `verdict-${b.candidate_id}` });
    expect(restored.isSettled(a.candidate_id)).toBe(false);
    expect(restored.check(a.problem).duplicate).toBe(false);

    // Read back: pending becomes logged, and a verdict of another configuration changes nothing.
    state.applyVerdict(verdictOf(a, true));
    state.applyVerdict({ ...verdictOf(candidate(3), true), judge_config_version: 'j-other' });
    expect(state.pendingCount).toBe(0);
    const again = JudgeState.importSections('j-1', options, state.exportSections());
    expect(again.isSettled(a.candidate_id)).toBe(true);
    expect(again.isSettled(candidate(3).candidate_id)).toBe(false);
    expect(again.settledCount).toBe(2);
  });
});
