/**
 * The scale benchmark's pure parts: its flags, and the synthetic records it fills the topics with.
 * The records must be what the stages accept as their own: every value encodes with its topic's
 * Avro schema and maps to a ClickHouse row; the KC registry entries are applied by a
 * concept-extractor replica with the settings the services run with (none skipped or refused);
 * the verdicts are the judge configuration's (JudgeState counts them settled); the combinations are
 * distinct for concept-graph's sampler.
 */
import { describe, expect, it } from 'vitest';
import { normalizeKcName } from '../../../core/concepts/index.ts';
import { Deduper } from '../../../core/dedup/index.ts';
import { checkGates } from '../../../core/gates/index.ts';
import { SharedKcRegistry } from '../../../services/concept-extractor/shared-registry.ts';
import { ConceptGraphStage, samplerOptionsFrom } from '../../../services/concept-graph/graph.ts';
import { rowFor } from '../../../services/clickhouse-sink/rows.ts';
import { judgeModelsFrom, judgeSettingsFrom } from '../../../services/judge/handler.ts';
import { JudgeState } from '../../../services/judge/state.ts';
import { loadConfig } from '../../../services/runtime/config.ts';
import { localSerde } from '../../../services/runtime/kafka/index.ts';
import { serviceSettings } from '../../../services/runtime/service.ts';
import { sizesFor, Synth, registryOf } from '../../../bench/scale/generate.ts';
import { OptionsError, parseOptions } from '../../../bench/scale/options.ts';
import { barsOf } from '../../../bench/scale/summary.ts';
import { kcName } from '../../../bench/scale/text.ts';
import type { Combination } from '../../../schemas/generated/types.ts';
import { MemoryLog } from '../kafka/fakes.ts';

const settings = serviceSettings(loadConfig({}));
const VERSION = 'j-scale-test';

function synth(scale = 0.004): Synth {
  return new Synth({ sizes: sizesFor(scale), settings, judgeConfigVersion: VERSION, judgeModels: judgeModelsFrom(settings), llmModel: 'local-instruct', embeddingsModel: settings.embeddingsEndpoint.model, dimension: 384, endAt: 1_800_000_000_000, spanMs: 86_400_000 });
}

describe('bench:scale flags', () => {
  it('defaults to the paper scale and takes --scale, --keep, --out, --fresh, --port-base', () => {
    expect(parseOptions([])).toMatchObject({ scale: 1, keep: false, fresh: 20 });
    expect(parseOptions(['--scale', '10', '--keep', '--out=x.json', '--fresh', '5', '--port-base', '20000'])).toEqual({ scale: 10, keep: true, out: 'x.json', fresh: 5, portBase: 20_000 });
    expect(parseOptions(['--scale=0.01']).scale).toBe(0.01);
  });

  it('refuses unknown flags and bad values, naming them', () => {
    expect(() => parseOptions(['--scal', '1'])).toThrow(OptionsError);
    expect(() => parseOptions(['--scale', '0'])).toThrow(/--scale/);
    expect(() => parseOptions(['--scale', 'ten'])).toThrow(/--scale/);
    expect(() => parseOptions(['--keep=yes'])).toThrow(/--keep/);
    expect(() => parseOptions(['--fresh'])).toThrow(/missing value/);
  });
});

describe('bench:scale synthetic records', () => {
  it('sizes: the paper at 1, ten times at 10', () => {
    expect(sizesFor(1)).toEqual({ seeds: 7_500, kcs: 10_000, combinations: 2_100_000 });
    expect(sizesFor(10)).toEqual({ seeds: 75_000, kcs: 100_000, combinations: 21_000_000 });
  });

  it('KC names are distinct after the registry normalization, also at ten times the paper', () => {
    const keys = new Set(Array.from({ length: 100_000 }, (_, k) => normalizeKcName(kcName(k))));
    expect(keys.size).toBe(100_000);
  });

  it('every record encodes with its topic schema and maps to its table row; texts have realistic lengths', async () => {
    const s = synth();
    const serde = localSerde();
    for (const v of s.seeds) rowFor('grip.seeds', v), await serde.encode('grip.seeds', v);
    for (const v of s.concepts) rowFor('grip.concepts', v), await serde.encode('grip.concepts', v);
    for (const v of s.registryEntries) await serde.encode('grip.kc-registry', v);
    let i = 0;
    let accepted = 0;
    const combos = new Set<string>();
    for (const chunk of s.combinations(500)) {
      for (const combo of chunk) {
        const c = s.candidate(combo, i);
        const v = s.verdict(c, i);
        for (const [topic, value] of [['grip.pairs', combo], ['grip.candidates', c], ['grip.verdicts', v]] as const) {
          await serde.encode(topic, value);
          rowFor(topic, value as never);
        }
        expect(c.problem.length).toBeGreaterThanOrEqual(300);
        expect(c.problem.length).toBeLessThan(700);
        expect(c.solution.length).toBeGreaterThanOrEqual(800);
        expect(c.solution.length).toBeLessThan(1800);
        expect(v.judge_config_version).toBe(VERSION);
        expect(v.calls_made + v.calls_saved).toBe(6);
        combos.add(combo.key);
        if (v.accepted) accepted++;
        i++;
      }
    }
    expect(i).toBe(sizesFor(0.004).combinations);
    expect(combos.size).toBe(i);
    expect(accepted / i).toBeGreaterThan(0.25);
    expect(accepted / i).toBeLessThan(0.35);
  });

  it('the same pass twice gives the same candidates and verdicts', () => {
    const s = synth();
    const first = s.combinations(300).next().value as Combination[];
    const again = s.combinations(300).next().value as Combination[];
    expect(again.map((c) => c.combo_id)).toEqual(first.map((c) => c.combo_id));
    expect(s.verdict(s.candidate(again[5]!, 5), 5)).toEqual(s.verdict(s.candidate(first[5]!, 5), 5));
  });

  it('a concept-extractor replica with the services settings applies every registry entry, to the ids the concepts use', async () => {
    const s = synth();
    const broker = new MemoryLog();
    const serde = localSerde();
    const producer = broker.producer();
    for (const e of s.registryEntries) await producer.send([{ topic: 'grip.kc-registry', key: serde.keyOf('grip.kc-registry', e), value: await serde.encode('grip.kc-registry', e) }]);
    const shared = new SharedKcRegistry(registryOf(settings), { transport: broker, serde, producer, embeddingsModel: settings.embeddingsEndpoint.model, embed: async () => [] });
    await shared.start();
    await shared.stop();
    expect(shared.entriesApplied).toBe(s.registryEntries.length);
    expect(shared.skipped + shared.skippedOtherSettings + shared.skippedOtherDimension).toBe(0);
    expect(shared.registry.size).toBe(s.kcIds.length);
    for (const c of s.concepts) for (const kc of c.kcs) expect(shared.registry.idOf(kc.name)).toBe(kc.kc_id);
  });

  it('the judge takes every verdict as its configuration settled; concept-graph takes every combination as new', () => {
    const s = synth();
    const state = new JudgeState(VERSION, new Deduper({ threshold: settings.dedup.threshold, seed: settings.seed }).options);
    const graph = new ConceptGraphStage(samplerOptionsFrom(settings));
    let i = 0;
    let fresh = 0;
    for (const chunk of s.combinations(1000)) {
      for (const combo of chunk) {
        state.applyVerdict(s.verdict(s.candidate(combo, i), i));
        if (graph.markEmitted(combo)) fresh++;
        i++;
      }
    }
    expect(state.settledCount).toBe(i);
    expect(fresh).toBe(i);
  });

  it('fresh candidates for the takeover are new and pass the quality gates, so the judges see them', () => {
    const s = synth();
    const fresh = s.freshCandidates(20, 'salt', 1);
    expect(new Set(fresh.map((c) => c.candidate_id)).size).toBe(20);
    const judge = judgeSettingsFrom(settings);
    for (const c of fresh) expect(checkGates({ problem: c.problem, solution: c.solution, final_answer: c.final_answer ?? '' }, judge.gates!, judge.normalizer).passed).toBe(true);
    expect(s.freshCandidates(20, 'other', 1)[0]!.candidate_id).not.toBe(fresh[0]!.candidate_id);
  });
});

describe('bench:scale bars', () => {
  it('checks the paper scale against the acceptance bars and reports larger scales without them', () => {
    const phases = {
      judge: { takeover: { seconds_kill_to_first_new_verdict: 30 }, memory: { peak_rss_mb: 1600 } },
      concept_graph: { restart: { seconds_stop_signal_to_rebuilt: 12 } },
      report: { seconds: 29 },
      queries: { queries: { cost: { median_s: 2.5, runs_s: [2, 2.5, 3] }, throughput: { median_s: 0.4, runs_s: [0.4] } } },
    };
    const bars = barsOf({ scale: 1, phases });
    const byFigure = (prefix: string) => bars.find((b) => b.figure.startsWith(prefix))!;
    expect(byFigure('judge takeover').pass).toBe(true);
    expect(byFigure('judge peak RSS').pass).toBe(false);
    expect(byFigure('concept-graph restart').pass).toBe(true);
    expect(byFigure('`grip report').pass).toBe(true);
    expect(byFigure('query cost').pass).toBe(false);
    expect(byFigure('query throughput').pass).toBe(true);
    expect(barsOf({ scale: 10, phases }).every((b) => b.pass === null && b.below === null)).toBe(true);
    // a figure that was not measured fails its bar
    expect(barsOf({ scale: 1, phases: {} }).find((b) => b.figure.startsWith('judge takeover'))!.pass).toBe(false);
  });
});
