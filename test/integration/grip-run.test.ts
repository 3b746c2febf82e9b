/**
 * `grip run` as a user runs it: the CLI, the shipped seed file, the real small local model and
 * embedding model of the local stack. Then SIGKILL halfway and the same command again, on the
 * deterministic fake model (`--llm-base-url`), so that the whole, killed and resumed runs are
 * quick and their answers exactly repeatable. Generous timeouts: the CPU model writes ~8 tokens/s.
 */
import { checkGates, GATE_NAMES, type GateInput } from '../../core/gates/index.ts';
import { loadDomain } from '../../services/runtime/domains.ts';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../services/runtime/config.ts';
import { FileLlmCache } from '../../services/runtime/file-llm-cache.ts';
import { answerGripPrompt } from '../fixtures/grip-answers.ts';
import { startFakeOpenAI } from '../fixtures/openai-server.ts';

// The README's first command reads the seeds shipped in data/ (a fresh clone has nothing beside it).
const MATH_TRAIN = path.join(REPO_ROOT, 'data', 'seeds', 'math-train-sample.jsonl.gz');
const GRIP = path.join(REPO_ROOT, 'bin', 'grip.mjs');
// Small on purpose: the CPU model writes ~8-10 tokens/s, and every candidate costs a problem, a
// difficulty, a solution, a second solution (self-consistency) and up to six judge answers.
const ARGS = ['--limit', '3', '--combinations', '2', '--seed', '3', '--concurrency', '1', '--quiet'];
/** The resume test's run: the deterministic fake model, so it can be run whole, killed and resumed quickly. */
const FAKE_ARGS = ['--limit', '5', '--combinations', '4', '--seed', '3', '--quiet'];

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'grip-run-it-'));
const lines = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
const ids = (dir: string, file: string) => lines(path.join(dir, file)).map((l) => JSON.parse(l).id).sort();

function grip(args: string[]) {
  return spawnSync(process.execPath, [GRIP, ...args], { encoding: 'utf8', timeout: 1_500_000 });
}

/** `grip` without blocking this process (the fake model server answers from it). */
function gripAsync(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GRIP, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (status) => resolve({ status, stderr }));
  });
}

describe('grip run with the local model', () => {
  it('turns 3 MATH seeds into a dataset with a consistent report', () => {
    const whole = tmp();
    const result = grip(['run', '--seeds', MATH_TRAIN, '--out', whole, ...ARGS]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/accepted \d+ of \d+ judged candidates \(\d+ made, \d+ inputs in dlq\.jsonl\) from 3 seeds/);
    for (const f of ['accepted.jsonl', 'accepted.parquet', 'rejected.jsonl', 'dlq.jsonl', 'report.json', 'report.md']) {
      expect(fs.existsSync(path.join(whole, f)), f).toBe(true);
    }
    const report = JSON.parse(fs.readFileSync(path.join(whole, 'report.json'), 'utf8'));
    const accepted = lines(path.join(whole, 'accepted.jsonl'));
    const rejected = lines(path.join(whole, 'rejected.jsonl'));
    const dlq = lines(path.join(whole, 'dlq.jsonl')).map((l) => JSON.parse(l));
    expect(report.seeds.valid).toBe(3);
    expect(report.accepted).toBe(accepted.length);
    expect(report.verdicts).toBe(accepted.length + rejected.length);
    expect(report.candidates + dlq.filter((d) => d.stage === 'problem-synth').length).toBe(report.combinations.total);
    expect(report.kcs).toBeGreaterThan(0);
    for (const key of ['novelty_rate', 'acceptance_by_relation', 'kc_coverage', 'seed_similarity', 'contamination', 'calls_per_accepted', 'tokens_per_accepted', 'calls_saved_early_exit', 'dlq_by_stage']) {
      expect(report, key).toHaveProperty(key);
    }
    expect(report.llm.calls).toBeGreaterThan(0);
    // The three shipped benchmark sets were checked; every accepted row passes the quality gates.
    expect(report.decontamination.checked.map((b: { source: string }) => b.source)).toEqual(['math', 'math500', 'gsm8k']);
    expect(Object.keys(report.answer_checks.rejected_by_gate)).toEqual([...GATE_NAMES]);
    expect(report.answer_checks).toHaveProperty('self_consistency.agreement_rate');
    const math = loadDomain('competition-math');
    for (const line of accepted) {
      const row = JSON.parse(line) as GateInput;
      expect(checkGates(row, math.gates, math.normalizer).passed, row.problem).toBe(true);
    }
    const report2 = grip(['report', whole, '--json']);
    expect(JSON.parse(report2.stdout)).toEqual(report);
  }, 1_500_000);

});

describe('grip run resumes after SIGKILL', () => {
  it('killed halfway, the same command finishes with the same accepted set and no duplicates', async () => {
    const model = await startFakeOpenAI({ reply: (body) => answerGripPrompt(body), latencyMs: 50, slots: 2 });
    try {
      const args = [...FAKE_ARGS, '--llm-base-url', model.baseUrl];
      const whole = tmp();
      const first = await gripAsync(['run', '--seeds', MATH_TRAIN, '--out', whole, ...args]);
      expect(first.status, first.stderr).toBe(0);
      const out = tmp();
      const child = spawn(process.execPath, [GRIP, 'run', '--seeds', MATH_TRAIN, '--out', out, ...args], { stdio: 'ignore' });
      const cache = path.join(out, '.grip', 'llm-cache.jsonl');
      const total = FileLlmCache.entriesIn(path.join(whole, '.grip', 'llm-cache.jsonl'));
      await new Promise<void>((resolve, reject) => {
        const timer = setInterval(() => {
          if (FileLlmCache.entriesIn(cache) >= Math.max(2, Math.floor(total / 2))) {
            clearInterval(timer);
            child.kill('SIGKILL');
            resolve();
          }
        }, 50);
        child.on('exit', (code) => {
          clearInterval(timer);
          reject(new Error(`the run ended (code ${code}) before it could be killed`));
        });
      });
      expect(fs.existsSync(path.join(out, 'report.json'))).toBe(false);
      const result = await gripAsync(['run', '--seeds', MATH_TRAIN, '--out', out, ...args]);
      expect(result.status, result.stderr).toBe(0);
      const acceptedIds = ids(out, 'accepted.jsonl');
      expect(acceptedIds.length).toBeGreaterThan(0);
      expect(new Set(acceptedIds).size).toBe(acceptedIds.length);
      expect(acceptedIds).toEqual(ids(whole, 'accepted.jsonl'));
      expect(ids(out, 'rejected.jsonl')).toEqual(ids(whole, 'rejected.jsonl'));
    } finally {
      await model.close();
    }
  }, 600_000);
});
