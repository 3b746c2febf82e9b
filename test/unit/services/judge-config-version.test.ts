/**
 * The judge's config version covers every setting that can change a verdict (issue 10): a replay
 * of the judge with only one of them changed must make new verdict ids, never answer with the old
 * verdicts. Each case below changes one setting and must change the version.
 */
import { describe, expect, it } from 'vitest';
import { createNgramIndex, type BenchmarkRecord } from '../../../core/decontam/index.ts';
import { judgeConfigVersion, judgeModelsFrom, judgeSettingsFrom } from '../../../services/judge/handler.ts';
import { loadConfig } from '../../../services/runtime/config.ts';
import { parseRunFile, resolveRunSettings } from '../../../services/runtime/settings.ts';
import { LLM_STEPS } from '../../../services/stages.ts';

const config = loadConfig({});
const BENCHMARK: BenchmarkRecord[] = [
  { id: 'math:1', source: 'math', text: 'What is the sum of the interior angles of a hexagon in degrees?' },
  { id: 'gsm8k:1', source: 'gsm8k', text: 'Tom has 3 apples and buys 4 more. How many apples does he have now?' },
];

function versionOf(file: Record<string, unknown>, benchmark: BenchmarkRecord[] | null = BENCHMARK, flags = {}): string {
  const settings = resolveRunSettings(parseRunFile(file), flags, config, LLM_STEPS);
  return judgeConfigVersion(judgeSettingsFrom(settings), judgeModelsFrom(settings), benchmark ? createNgramIndex(benchmark) : null);
}

describe('judge config version', () => {
  const base = versionOf({});

  it('is stable for equal settings', () => {
    expect(versionOf({})).toBe(base);
  });

  const cases: Array<[string, () => string]> = [
    ['the problem threshold', () => versionOf({ judging: { threshold: 0.9 } })],
    ['a judge weight', () => versionOf({ judging: { weights: { judge_1: 0.5, judge_2: 0.25, judge_3: 0.25 } } })],
    ['the judge order', () => versionOf({ judging: { order: 'given' } })],
    ['early exit', () => versionOf({ judging: { early_exit: false } })],
    ['reject_at_words', () => versionOf({ decontamination: { reject_at_words: 10 } })],
    ['the dedup threshold', () => versionOf({ dedup: { threshold: 0.7 } })],
    ['the seed', () => versionOf({ seed: 1234 })],
    ['the seed given as a flag', () => versionOf({}, BENCHMARK, { seed: 99 })],
    ['a judge model', () => versionOf({ llm: { stages: { judge_2: { model: 'another-judge' } } } })],
    ['one benchmark item text (same file name, other content)', () => versionOf({}, [BENCHMARK[0], { ...BENCHMARK[1], text: `${BENCHMARK[1].text} Explain.` }])],
    ['a benchmark source', () => versionOf({}, [BENCHMARK[0], { ...BENCHMARK[1], source: 'math500' }])],
    ['a benchmark set removed', () => versionOf({}, [BENCHMARK[0]])],
    ['no decontamination at all', () => versionOf({}, null)],
  ];
  for (const [setting, version] of cases) {
    it(`changes with ${setting}`, () => {
      expect(version()).not.toBe(base);
    });
  }
});
