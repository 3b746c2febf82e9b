/**
 * `npm run bench:judge-state`: what the judge holds per verdict and per accepted problem, and what
 * its checkpoint costs, at the paper's scale (2.1M verdicts) and beyond.
 *
 * In child processes (so each heap is its own, measured after a full GC):
 *  - state: JudgeState (services/judge/state.ts) fed N synthetic verdicts as the judge's log reader
 *    feeds them (a share accepted, problems of realistic length, all distinct): retained bytes
 *    per verdict and per accepted problem, then the checkpoint sections' size, export and import
 *    time (what a takeover pays before reading the log tail);
 *  - baseline: the state the judge kept before (every verdict in full in a Map, by candidate id),
 *    on fewer verdicts, as bytes per verdict.
 * Writes bench/results/judge-state.json and judge-state.md.
 *
 * Options: --verdicts N (default 2100000), --accepted-share X (default 0.3), --baseline N (default 100000).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Verdict } from '../schemas/generated/types.ts';
import { JudgeState } from '../services/judge/state.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLE = JSON.parse(readFileSync(path.join(HERE, '..', 'schemas', 'examples', 'grip.verdicts', 'accepted.json'), 'utf8')) as Verdict;
const DEDUP = { threshold: 0.8, seed: 1 };
const VERSION = 'j-bench';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
function retained(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const WORDS = 'triangle circle integer prime sum product ratio angle area volume chord radius tangent sequence series digit remainder factor multiple parabola vertex slope median mean mode probability coin dice card marble box'.split(' ');
/** A distinct problem of about 400 characters (xorshift words: no two share many trigrams). */
function problem(i: number): string {
  let x = (i * 2654435761) >>> 0 || 1;
  const words: string[] = [];
  for (let k = 0; k < 60; k++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words.push(`${WORDS[x % WORDS.length]}${(x >>> 8) % 97}`);
  }
  return `Problem ${i}: ${words.join(' ')}. Find the answer.`;
}
function verdict(i: number, accepted: boolean): Verdict {
  const id = String(i).padStart(24, '0');
  return { ...EXAMPLE, verdict_id: `verdict-${id}`, candidate_id: `cand-${id}`, combo_id: `combo-${id}`, judge_config_version: VERSION, accepted, reason: accepted ? 'accepted' : 'problem_score_below_threshold', problem: problem(i), solution: `${EXAMPLE.solution} (${i})` };
}

function runState(): Record<string, unknown> {
  const n = arg('verdicts', 2_100_000);
  const share = arg('accepted-share', 0.3);
  const before = retained();
  const state = new JudgeState(VERSION, DEDUP);
  const t = performance.now();
  let accepted = 0;
  for (let i = 0; i < n; i++) {
    const ok = (i * 7919) % 1000 < share * 1000;
    if (ok) accepted++;
    state.applyVerdict(verdict(i, ok));
  }
  const applySeconds = (performance.now() - t) / 1000;
  const after = retained();
  const stats = state.dedupStats();
  const t1 = performance.now();
  const sections = state.exportSections();
  const exportSeconds = (performance.now() - t1) / 1000;
  const bytes = Object.values(sections).reduce((a, s) => a + s.byteLength, 0);
  const t2 = performance.now();
  const restored = JudgeState.importSections(VERSION, DEDUP, sections);
  const importSeconds = (performance.now() - t2) / 1000;
  if (restored.settledCount !== state.settledCount) throw new Error('restored state differs');
  // Memory split: the settled table is exact; the rest is the deduper (bounded by its capacity).
  const total = after - before;
  const settledBytes = stats.settledTableBytes;
  const kept = stats.accepted;
  return {
    verdicts: n,
    accepted,
    accepted_kept_for_dedup: kept,
    dedup_capacity: stats.capacity,
    evicted: stats.evicted,
    apply_seconds: round(applySeconds),
    retained_mb: round(total / 2 ** 20),
    settled_table_mb: round(settledBytes / 2 ** 20),
    bytes_per_verdict: round(settledBytes / n, 1),
    bytes_per_accepted_kept: round((total - settledBytes) / kept, 0),
    checkpoint_mb: round(bytes / 2 ** 20),
    checkpoint_export_seconds: round(exportSeconds),
    checkpoint_import_seconds: round(importSeconds),
    peak_rss_mb: round(process.resourceUsage().maxRSS / 1024),
  };
}

function runBaseline(): Record<string, unknown> {
  const n = arg('baseline', 100_000);
  const share = arg('accepted-share', 0.3);
  const before = retained();
  const earlier = new Map<string, Verdict>();
  for (let i = 0; i < n; i++) {
    const v = verdict(i, (i * 7919) % 1000 < share * 1000);
    earlier.set(v.candidate_id, v);
  }
  const after = retained();
  if (earlier.size !== n) throw new Error('baseline lost verdicts');
  return { verdicts: n, retained_mb: round((after - before) / 2 ** 20), bytes_per_verdict: round((after - before) / n, 0) };
}

function child(part: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', '--import', 'tsx', fileURLToPath(import.meta.url), '--part', part, ...process.argv.slice(2)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${part} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

const part = process.argv.includes('--part') ? process.argv[process.argv.indexOf('--part') + 1] : null;
if (part === 'state') console.log(JSON.stringify(runState()));
else if (part === 'baseline') console.log(JSON.stringify(runBaseline()));
else {
  const state = child('state');
  const baseline = child('baseline');
  const result = { at: new Date().toISOString(), machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, node: process.version }, state, baseline };
  const out = path.join(HERE, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'judge-state.json'), `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    '# Judge state (`npm run bench:judge-state`)',
    '',
    `${result.at} · ${result.machine.cpus} CPUs (${result.machine.cpu_model}) · Node ${result.machine.node}`,
    '',
    '| | now (hashes + dedup fingerprints) | before (every verdict in full) |',
    '| --- | ---: | ---: |',
    `| verdicts | ${state.verdicts} (${state.accepted} accepted) | ${baseline.verdicts} |`,
    `| bytes per verdict | ${state.bytes_per_verdict} (settled-id table) | ${baseline.bytes_per_verdict} |`,
    `| bytes per accepted problem kept for dedup | ${state.bytes_per_accepted_kept} (${state.accepted_kept_for_dedup} kept, capacity ${state.dedup_capacity}, ${state.evicted} evicted) | (in the verdict) |`,
    `| retained after a full GC | ${state.retained_mb} MB | ${baseline.retained_mb} MB (at ${state.verdicts} verdicts: ~${round((Number(baseline.bytes_per_verdict) * Number(state.verdicts)) / 2 ** 30)} GB) |`,
    `| peak RSS | ${state.peak_rss_mb} MB | |`,
    `| checkpoint | ${state.checkpoint_mb} MB, export ${state.checkpoint_export_seconds} s, import ${state.checkpoint_import_seconds} s | |`,
    '',
  ].join('\n');
  writeFileSync(path.join(out, 'judge-state.md'), md);
  console.log(md);
}
