/**
 * Fault: replays of the judge (`grip replay --stage judge --from-offset 0 --config F`) with each
 * judging setting changed in turn: the threshold, the dedup threshold, reject_at_words, the seed and
 * one judge's model (issue 10: a config version that missed a setting made its replay return every
 * old verdict unchanged). Each replay must write a new verdict for every candidate under a new
 * judge_config_version, leave the verdicts of the earlier versions untouched, lose no accepted
 * verdict, and every invariant must hold.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acceptedVerdicts, describeViolations, lostAccepted } from '../invariants/invariants.ts';
import { expectInvariants, faultScenario, grip, rows, scalar, seedsFile, waitUntilIdle } from './helpers.ts';

const PIPELINE = ['seed-ingest', 'concept-extractor', 'concept-graph', 'problem-synth', 'judge', 'clickhouse-sink'];
const BASE = { seed: 3, threshold: 0.5, dedup: 0.8, rejectAtWords: 13, judgeModel: '' };
type Judging = typeof BASE;
const s = faultScenario('replays', []);

function settingsFile(name: string, j: Judging): string {
  const file = path.join(s.f.work, `${name}.yaml`);
  const lines = [
    `seed: ${j.seed}`,
    'concurrency: 2',
    'services:',
    '  combinations_per_seed: 2',
    '  max_combinations: 4',
    'judging:',
    `  threshold: ${j.threshold}`,
    'dedup:',
    `  threshold: ${j.dedup}`,
    'decontamination:',
    `  reject_at_words: ${j.rejectAtWords}`,
    ...(j.judgeModel ? ['llm:', '  stages:', '    judge_2:', `      model: ${j.judgeModel}`] : []),
  ];
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Every verdict of every config version now: id -> accepted/reason/duplicate_of (latest version of the row). */
async function verdictsByVersion(): Promise<Map<string, Record<string, string>>> {
  const all = await rows<{ v: string; id: string; accepted: number; reason: string; dup: string | null }>(
    s.ch,
    `SELECT judge_config_version AS v, verdict_id AS id, accepted, reason, duplicate_of AS dup FROM ${s.f.db}.verdicts FINAL ORDER BY v, id`,
  );
  const out = new Map<string, Record<string, string>>();
  for (const r of all) out.set(r.v, { ...(out.get(r.v) ?? {}), [r.id]: `${r.accepted}/${r.reason}/${r.dup ?? ''}` });
  return out;
}

describe('replays of the judge with each judging setting changed', () => {
  it('each writes a verdict for every candidate under a new config version and leaves the old ones untouched', async () => {
    const { f, ch } = s;
    const up = grip(['services', 'up', '--only', PIPELINE.join(','), '--config', settingsFile('base', BASE)], f.env, 300_000);
    expect(up.status, up.stderr + up.stdout).toBe(0);
    expect(grip(['seed', 'add', seedsFile(f.work, 4)], f.env).status).toBe(0);
    await waitUntilIdle(f.config, 240_000);
    const candidates = await scalar(ch, `SELECT count() FROM ${f.db}.candidates FINAL`);
    expect(candidates).toBeGreaterThan(0);

    const changes: Array<[string, Partial<Judging>]> = [
      ['threshold', { threshold: 0.3 }],
      ['dedup-threshold', { dedup: 0.9 }],
      ['reject-at-words', { rejectAtWords: 8 }],
      ['seed', { seed: 4 }],
      ['judge-model', { judgeModel: 'another-judge-model' }],
    ];
    for (const [name, change] of changes) {
      const before = await verdictsByVersion();
      const acceptedBefore = await acceptedVerdicts(ch, f.db);
      const replay = grip(['replay', '--stage', 'judge', '--from-offset', '0', '--config', settingsFile(name, { ...BASE, ...change })], f.env);
      expect(replay.status, replay.stderr + replay.stdout).toBe(0);
      await waitUntilIdle(f.config, 120_000);

      const after = await verdictsByVersion();
      expect(after.size, `replay with another ${name}: a new judge_config_version`).toBe(before.size + 1);
      for (const [version, verdicts] of before) expect(after.get(version), `${name}: verdicts of ${version} untouched`).toEqual(verdicts);
      const fresh = [...after.keys()].find((v) => !before.has(v))!;
      expect(Object.keys(after.get(fresh)!), `${name}: a verdict for every candidate`).toHaveLength(candidates);
      const lost = await lostAccepted(ch, f.db, acceptedBefore);
      expect(lost, describeViolations(lost)).toEqual([]);
    }
    await expectInvariants(ch, f);
  });
});
