/**
 * `grip run` as a user runs it: the CLI, a real seed file, the real small local model and
 * embedding model of the local stack. Also: SIGKILL halfway, then the same command again.
 * Generous timeouts: the CPU model generates ~8 tokens/s here, so one test takes 5-7 minutes.
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

// The README's first command reads the seeds shipped in data/ (a fresh clone has nothing beside it).
const MATH_TRAIN = path.join(REPO_ROOT, 'data', 'seeds', 'math-train-sample.jsonl.gz');
const GRIP = path.join(REPO_ROOT, 'bin', 'grip.mjs');
const ARGS = ['--limit', '5', '--combinations', '4', '--seed', '3', '--concurrency', '1', '--quiet'];

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'grip-run-it-'));
const lines = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
const ids = (dir: string, file: string) => lines(path.join(dir, file)).map((l) => JSON.parse(l).id).sort();

function grip(args: string[]) {
  return spawnSync(process.execPath, [GRIP, ...args], { encoding: 'utf8', timeout: 1_500_000 });
}

describe('grip run with the local model', () => {
  let whole = '';

  it('turns 5 MATH seeds into a dataset with a consistent report', () => {
    whole = tmp();
    const result = grip(['run', '--seeds', MATH_TRAIN, '--out', whole, ...ARGS]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/accepted \d+ of \d+ judged candidates \(\d+ made, \d+ inputs in dlq\.jsonl\) from 5 seeds/);
    for (const f of ['accepted.jsonl', 'accepted.parquet', 'rejected.jsonl', 'dlq.jsonl', 'report.json', 'report.md']) {
      expect(fs.existsSync(path.join(whole, f)), f).toBe(true);
    }
    const report = JSON.parse(fs.readFileSync(path.join(whole, 'report.json'), 'utf8'));
    const accepted = lines(path.join(whole, 'accepted.jsonl'));
    const rejected = lines(path.join(whole, 'rejected.jsonl'));
    const dlq = lines(path.join(whole, 'dlq.jsonl')).map((l) => JSON.parse(l));
    expect(report.seeds.valid).toBe(5);
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

  it('killed with SIGKILL halfway, the same command finishes with the same accepted set and no duplicates', async () => {
    const out = tmp();
    const child = spawn(process.execPath, [GRIP, 'run', '--seeds', MATH_TRAIN, '--out', out, ...ARGS], { stdio: 'ignore' });
    const cache = path.join(out, '.grip', 'llm-cache.jsonl');
    const total = FileLlmCache.entriesIn(path.join(whole, '.grip', 'llm-cache.jsonl'));
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (FileLlmCache.entriesIn(cache) >= Math.max(2, Math.floor(total / 2))) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 200);
      child.on('exit', (code) => {
        clearInterval(timer);
        reject(new Error(`the run ended (code ${code}) before it could be killed`));
      });
    });
    expect(fs.existsSync(path.join(out, 'report.json'))).toBe(false);
    const result = grip(['run', '--seeds', MATH_TRAIN, '--out', out, ...ARGS]);
    expect(result.status, result.stderr).toBe(0);
    const acceptedIds = ids(out, 'accepted.jsonl');
    expect(new Set(acceptedIds).size).toBe(acceptedIds.length);
    expect(acceptedIds).toEqual(ids(whole, 'accepted.jsonl'));
    expect(ids(out, 'rejected.jsonl')).toEqual(ids(whole, 'rejected.jsonl'));
  }, 1_500_000);
});
