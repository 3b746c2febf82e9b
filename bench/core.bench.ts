/**
 * `npm run bench:core`: the GRIP core benchmark.
 *
 * Builds a graph shaped like the paper's at ten times its size by default (100K KCs from 75K seeds
 * with 1-5 KCs each, Zipf KC frequencies, fixed RNG seed; `--scale 0.1` is the paper's 10K KCs /
 * 7.5K seeds / 1M combinations), then in separate child processes (so each peak RSS is its own):
 *  - main: graph build time, then time / CPU time / combos per second / peak RSS to yield 10M
 *    unique novel combinations across the relation types with core/combos (the sampler's
 *    preparation included), plus the cost of catching up after new seeds arrive and of exporting
 *    the sampler state;
 *  - baseline: the obvious graphology implementation with distances decided by adjacency tests
 *    (bench/baseline/naive-sampler.ts), time-boxed, its rate measured on the same graph and quotas:
 *    the speedup is against this one;
 *  - baseline-bfs: the previous baseline, a BFS per pair (bench/baseline/naive-bfs-sampler.ts),
 *    time-boxed, an extra column;
 *  - registry: KC-registry merge throughput at 100K KCs (bench/registry-merge.ts).
 * Writes bench/results/core.json and bench/results/core.md. Targets (default shape): 10M novel
 * combinations in < 60 s and < 2 GB peak RSS of the sampling process, >= 10x the baseline.
 *
 * Options: --scale F (multiplies KCs, seeds and the novel target; default 1), --kcs N, --seeds N,
 * --novel N (default 10M x scale), --baseline-seconds S (default 30, each baseline),
 * --skip-bfs-baseline, --skip-registry.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSampler } from '../core/combos/index.ts';
import { KcGraph } from '../core/graph/index.ts';
import { NaiveBfsSampler } from './baseline/naive-bfs-sampler.ts';
import { NaiveSampler } from './baseline/naive-sampler.ts';
import { generateSeeds } from './kc-graph-gen.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SAMPLER_SEED = 7;
const QUOTAS = { '1-hop': 0.1, '2-hop': 0.5, '3-hop': 0.2, community: 0.1, louvain: 0.1 };
/** The paper's graph (10K KCs from 7.5K seeds, 1M combinations) times ten. */
const FULL = { kcs: 100_000, seeds: 75_000, novel: 10_000_000 };
const TARGETS = { seconds: 60, peak_rss_mb: 2048, speedup: 10 };

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`--${name} needs a positive number, got ${process.argv[i + 1]}`);
  return v;
}
const SCALE = arg('scale', 1);
const SHAPE = { kcs: Math.round(arg('kcs', FULL.kcs * SCALE)), seeds: Math.round(arg('seeds', FULL.seeds * SCALE)), seed: 42 };
const NOVEL_TARGET = Math.round(arg('novel', FULL.novel * SCALE));
const isFullShape = SHAPE.kcs === FULL.kcs && SHAPE.seeds === FULL.seeds && NOVEL_TARGET === FULL.novel;
const cpuSeconds = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6;
const rssMb = (): number => process.memoryUsage().rss / 2 ** 20;
const peakRssMb = (): number => process.resourceUsage().maxRSS / 1024;
/** Live JS heap + typed arrays after a full GC (children run with --expose-gc): what is retained. */
function retainedMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return round((m.heapUsed + m.arrayBuffers) / 2 ** 20);
}

function buildGraph(): { graph: KcGraph; buildMs: number; seeds: ReturnType<typeof generateSeeds>['seeds'] } {
  const { seeds } = generateSeeds(SHAPE);
  const t = performance.now();
  const graph = new KcGraph();
  for (const s of seeds) graph.addSeed(s.id, s.kcIds);
  graph.snapshot();
  return { graph, buildMs: performance.now() - t, seeds };
}

function runMain(): Record<string, unknown> {
  const targetNovel = NOVEL_TARGET;
  const { graph, buildMs } = buildGraph();
  const stats = graph.stats(5);
  const rssAfterGraph = rssMb();
  const retainedAfterGraph = retainedMb();
  const perRelation: Record<string, number> = {};
  const novelPerRelation: Record<string, number> = {};
  let novel = 0;
  let total = 0;
  let sampledPeakRss = rssMb();
  // Timed from here: the sampler's preparation (CSR snapshot, hub layers, Louvain) is part of it.
  const t = performance.now();
  const cpu = process.cpuUsage();
  const sampler = createSampler(graph, { seed: SAMPLER_SEED, quotas: QUOTAS });
  sampler.next(0);
  const prepareMs = performance.now() - t;
  const prepareCpu = cpuSeconds(process.cpuUsage(cpu));
  while (novel < targetNovel) {
    const batch = sampler.next(10_000);
    if (batch.length === 0) break;
    for (const c of batch) {
      total++;
      perRelation[c.relation] = (perRelation[c.relation] ?? 0) + 1;
      if (c.novel) {
        novel++;
        novelPerRelation[c.relation] = (novelPerRelation[c.relation] ?? 0) + 1;
      }
    }
    sampledPeakRss = Math.max(sampledPeakRss, rssMb());
  }
  const seconds = (performance.now() - t) / 1000;
  const cpuS = cpuSeconds(process.cpuUsage(cpu));
  const peakRssSampling = peakRssMb();
  const yieldedBytes = sampler.stats().yieldedBytes;
  const modes = Object.fromEntries(Object.entries(sampler.stats().perRelation).map(([r, v]) => [r, v.mode]));
  const retainedAfterSampling = retainedMb();

  // Incremental catch-up: 200 new seeds on the full graph, then the next 10K combinations.
  const extra = generateSeeds({ seeds: 200, kcs: 300, seed: 99 }).seeds;
  for (const s of extra) graph.addSeed(`extra-${s.id}`, s.kcIds.map((k) => `${k}`));
  const t2 = performance.now();
  const after = sampler.next(10_000);
  const catchUpMs = performance.now() - t2;
  const exportStart = performance.now();
  const state = sampler.exportState();
  const exportMs = performance.now() - exportStart;

  return {
    graph_build_ms: round(buildMs),
    nodes: stats.nodes,
    edges: stats.edges,
    seeds: stats.seeds,
    max_degree: stats.degree.max,
    components: stats.components,
    hubs: stats.hubs,
    combos: novel,
    combos_total_yielded: total,
    prepare_ms: round(prepareMs),
    prepare_cpu_s: round(prepareCpu),
    seconds: round(seconds),
    cpu_seconds: round(cpuS),
    combos_per_s: Math.round(novel / seconds),
    modes_at_end: modes,
    per_relation: perRelation,
    novel_per_relation: novelPerRelation,
    rss_after_graph_mb: round(rssAfterGraph),
    rss_peak_sampled_mb: round(sampledPeakRss),
    peak_rss_sampling_mb: round(peakRssSampling),
    peak_rss_mb: round(peakRssMb()),
    yielded_set_mb: round(yieldedBytes / 2 ** 20),
    retained_after_graph_mb: retainedAfterGraph,
    retained_after_sampling_mb: retainedAfterSampling,
    incremental: { new_seeds: extra.length, next_10k_after_update_ms: round(catchUpMs), yielded: after.length },
    export_state: { bytes: state.length, ms: round(exportMs) },
  };
}

function runBaseline(kind: 'adjacency' | 'bfs'): Record<string, unknown> {
  const seconds = arg('baseline-seconds', 30);
  const { graph, seeds } = buildGraph();
  const seedsOf = new Map<string, Set<string>>();
  for (const s of seeds) for (const k of s.kcIds) (seedsOf.get(k) ?? seedsOf.set(k, new Set()).get(k))!.add(s.id);
  const t0 = performance.now();
  const naive = kind === 'adjacency'
    ? new NaiveSampler(graph.graph, seedsOf, QUOTAS, SAMPLER_SEED)
    : new NaiveBfsSampler(graph.graph, seedsOf, QUOTAS, SAMPLER_SEED);
  const setupMs = performance.now() - t0;
  let novel = 0;
  let total = 0;
  const t = performance.now();
  const cpu = process.cpuUsage();
  const deadline = t + seconds * 1000;
  while (performance.now() < deadline && novel < NOVEL_TARGET) {
    for (let i = 0; i < 100; i++) {
      const c = naive.next();
      if (!c) break;
      total++;
      if (c.novel) novel++;
    }
  }
  const elapsed = (performance.now() - t) / 1000;
  return {
    kind,
    setup_ms: round(setupMs),
    seconds: round(elapsed),
    cpu_seconds: round(cpuSeconds(process.cpuUsage(cpu))),
    combos: novel,
    combos_total_yielded: total,
    combos_per_s: Math.round(novel / elapsed),
    per_relation: naive.perRelation,
    peak_rss_mb: round(peakRssMb()),
    time_boxed: true,
  };
}

async function runRegistry(): Promise<Record<string, unknown>> {
  try {
    const mod = (await import('./registry-merge.ts')) as {
      measureRegistryMerge?: (o: { kcs: number; dim: number; seed: number }) => Promise<Record<string, number>>;
    };
    if (typeof mod.measureRegistryMerge !== 'function') return { registry: 'not available' };
    return { kcs: 100_000, dim: 384, ...(await mod.measureRegistryMerge({ kcs: 100_000, dim: 384, seed: 7 })) };
  } catch (e) {
    return { registry: 'not available', reason: String((e as Error).message ?? e).slice(0, 300) };
  }
}

function child(role: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--role', role, ...process.argv.slice(2)], {
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = r.stdout.trim().split('\n');
  if (r.status !== 0) throw new Error(`bench child ${role} exited ${r.status}: ${lines.slice(-5).join('\n')}`);
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

async function parent(): Promise<void> {
  const load = (): number[] => os.loadavg().map(round);
  const loadAtStart = load();
  const shape = `${SHAPE.kcs} KCs from ${SHAPE.seeds} seeds, ${NOVEL_TARGET} novel combinations`;
  console.error(`bench:core: ${shape}; load average ${loadAtStart.join(' ')}`);
  console.error('bench:core: main sampler ...');
  const main = child('main');
  console.error(`  ${main.combos} novel combos in ${main.seconds}s (${main.cpu_seconds} s CPU, ${main.combos_per_s}/s), peak RSS ${main.peak_rss_mb} MB`);
  console.error('bench:core: baseline, adjacency tests (time-boxed) ...');
  const baseline = child('baseline');
  console.error(`  ${baseline.combos} novel combos in ${baseline.seconds}s (${baseline.combos_per_s}/s)`);
  let baselineBfs: Record<string, unknown> = { skipped: '--skip-bfs-baseline' };
  if (!process.argv.includes('--skip-bfs-baseline')) {
    console.error('bench:core: previous baseline, BFS per pair (time-boxed) ...');
    baselineBfs = child('baseline-bfs');
    console.error(`  ${baselineBfs.combos} novel combos in ${baselineBfs.seconds}s (${baselineBfs.combos_per_s}/s)`);
  }
  let registry: Record<string, unknown> = { registry: 'skipped (--skip-registry)' };
  if (!process.argv.includes('--skip-registry')) {
    console.error('bench:core: KC registry merge at 100K KCs ...');
    registry = child('registry');
  }
  const speedup = round((main.combos_per_s as number) / (baseline.combos_per_s as number));
  // The same ratio on CPU time: less sensitive to other work on the machine than the wall-clock one.
  const perCpuSecond = (r: Record<string, unknown>): number => (r.combos as number) / (r.cpu_seconds as number);
  const speedupCpu = round(perCpuSecond(main) / perCpuSecond(baseline));
  const checks = {
    reached_target: (main.combos as number) >= NOVEL_TARGET,
    under_seconds: (main.seconds as number) < TARGETS.seconds,
    under_peak_rss: (main.peak_rss_mb as number) < TARGETS.peak_rss_mb,
    speedup_vs_baseline: speedup >= TARGETS.speedup,
  };
  const result = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpu_model: os.cpus()[0]?.model,
      total_mem_gb: round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${os.platform()} ${os.arch()}`,
      load_average_start: loadAtStart,
      load_average_end: load(),
    },
    shape: {
      kcs: SHAPE.kcs,
      seeds: SHAPE.seeds,
      kcs_per_seed: '1-5',
      kc_frequencies: 'Zipf 1.1',
      graph_seed: SHAPE.seed,
      sampler_seed: SAMPLER_SEED,
      novel_target: NOVEL_TARGET,
      scale: SCALE,
      label: isFullShape ? '10x the paper' : SHAPE.kcs === 10_000 && SHAPE.seeds === 7_500 ? 'the paper' : 'custom',
    },
    targets: isFullShape ? TARGETS : 'only for the default shape',
    checks: isFullShape ? checks : undefined,
    kcs: main.nodes,
    seeds: main.seeds,
    edges: main.edges,
    graph_build_ms: main.graph_build_ms,
    combos: main.combos,
    seconds: main.seconds,
    cpu_seconds: main.cpu_seconds,
    combos_per_s: main.combos_per_s,
    baseline_combos_per_s: baseline.combos_per_s,
    speedup,
    speedup_cpu: speedupCpu,
    bfs_baseline_combos_per_s: baselineBfs.combos_per_s,
    speedup_vs_bfs_baseline: baselineBfs.combos_per_s ? round((main.combos_per_s as number) / (baselineBfs.combos_per_s as number)) : undefined,
    peak_rss_mb: main.peak_rss_mb,
    per_relation: main.per_relation,
    quotas: QUOTAS,
    main,
    baseline,
    baseline_bfs: baselineBfs,
    registry,
  };
  mkdirSync(path.join(HERE, 'results'), { recursive: true });
  writeFileSync(path.join(HERE, 'results', 'core.json'), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(path.join(HERE, 'results', 'core.md'), markdown(result));
  console.log(JSON.stringify(result, null, 2));
}

function markdown(r: Record<string, any>): string {
  const m = r.main;
  const b = r.baseline;
  const bb = r.baseline_bfs;
  const hasBfs = bb.combos_per_s !== undefined;
  const rel = Object.entries(m.per_relation as Record<string, number>)
    .map(([k, v]) => `${k} ${v} (novel ${(m.novel_per_relation as Record<string, number>)[k] ?? 0})`)
    .join(', ');
  const reg = r.registry.registry ? String(r.registry.registry) : JSON.stringify(r.registry);
  const col = (core: string, base: string, bfs: string): string => `| ${core} | ${base} |${hasBfs ? ` ${bfs} |` : ''}`;
  const checks = r.checks
    ? `Targets (10x the paper): ${r.targets.seconds} s → ${r.checks.under_seconds ? 'met' : '**missed**'} (${m.seconds} s); ` +
      `${r.targets.peak_rss_mb} MB peak RSS → ${r.checks.under_peak_rss ? 'met' : '**missed**'} (${m.peak_rss_mb} MB); ` +
      `${r.targets.speedup}x the baseline → ${r.checks.speedup_vs_baseline ? 'met' : '**missed**'} (${r.speedup}x); ` +
      `${r.shape.novel_target} novel → ${r.checks.reached_target ? 'reached' : '**not reached**'}.`
    : `Shape: ${r.shape.label} (targets apply to the default shape only).`;
  return `# Core benchmark (\`npm run bench:core\`)

${r.date} · ${r.machine.cpus} CPUs (${r.machine.cpu_model}) · Node ${r.machine.node} · load average ${r.machine.load_average_start.join(' ')} at the start, ${r.machine.load_average_end.join(' ')} at the end

Graph (${r.shape.label}): ${r.kcs} KCs, ${r.seeds} seeds (1-5 KCs each, Zipf KC frequencies, seed ${r.shape.graph_seed}), ${r.edges} edges, max degree ${m.max_degree}; built in ${r.graph_build_ms} ms.
Quotas: ${JSON.stringify(r.quotas)}; target ${r.shape.novel_target} novel combinations.

| | core/combos | baseline: graphology, adjacency tests |${hasBfs ? ' previous baseline: graphology, BFS per pair |' : ''}
|---|---|---|${hasBfs ? '---|' : ''}
${col(`novel combinations | ${m.combos} (of ${m.combos_total_yielded} yielded)`, `${b.combos} (time-boxed, ${b.seconds} s)`, `${bb.combos} (time-boxed, ${bb.seconds} s)`)}
${col(`time | ${m.seconds} s (${m.prepare_ms} ms of it preparing the sampler)`, `${b.seconds} s`, `${bb.seconds} s`)}
${col(`CPU time | ${m.cpu_seconds} s`, `${b.cpu_seconds} s`, `${bb.cpu_seconds} s`)}
${col(`novel combos/s | ${m.combos_per_s}`, `${b.combos_per_s}`, `${bb.combos_per_s}`)}
${col(`novel combos per CPU second | ${Math.round(m.combos / m.cpu_seconds)}`, `${Math.round(b.combos / b.cpu_seconds)}`, `${Math.round(bb.combos / bb.cpu_seconds)}`)}
${col(`speedup of core/combos (wall clock; CPU time) | —`, `**${r.speedup}x**; ${r.speedup_cpu}x`, `${r.speedup_vs_bfs_baseline}x; ${round(m.combos / m.cpu_seconds / (bb.combos / bb.cpu_seconds))}x`)}
${col(`peak RSS (own process) | ${m.peak_rss_mb} MB`, `${b.peak_rss_mb} MB`, `${bb.peak_rss_mb} MB`)}

${checks}

Per relation (main): ${rel}. Modes at the end: ${JSON.stringify(m.modes_at_end)}.
Peak RSS of the main process: ${m.peak_rss_sampling_mb} MB up to the end of sampling (graph build included), ${m.peak_rss_mb} MB at the end (after the incremental step and the state export below); RSS after graph build ${m.rss_after_graph_mb} MB, highest seen between batches ${m.rss_peak_sampled_mb} MB. Retained after a full GC (heap + typed arrays): ${m.retained_after_graph_mb} MB with the graph, ${m.retained_after_sampling_mb} MB after ${m.combos_total_yielded} yielded combinations (yielded-key set ${m.yielded_set_mb} MB); the rest of the peak RSS is garbage from the emitted batches that V8 had not yet collected.
Incremental: after ${m.incremental.new_seeds} new seeds, the next 10K combinations took ${m.incremental.next_10k_after_update_ms} ms (CSR snapshot rebuilt, hub layers recomputed, Louvain only after 5% edge growth; candidates opened by the new edges first).
Sampler state export: ${m.export_state.bytes} bytes in ${m.export_state.ms} ms.
KC registry merge (100K KCs): ${reg}
`;
}

const roleIndex = process.argv.indexOf('--role');
const role = roleIndex >= 0 ? process.argv[roleIndex + 1] : 'parent';
if (role === 'main') console.log(JSON.stringify(runMain()));
else if (role === 'baseline') console.log(JSON.stringify(runBaseline('adjacency')));
else if (role === 'baseline-bfs') console.log(JSON.stringify(runBaseline('bfs')));
else if (role === 'registry') console.log(JSON.stringify(await runRegistry()));
else await parent();
