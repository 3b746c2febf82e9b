/**
 * `npm run bench:core`: the GRIP core benchmark.
 *
 * Builds a graph shaped like the paper's (10K KCs from 7.5K seeds with 1-5 KCs each, Zipf KC
 * frequencies, fixed RNG seed), then in separate child processes (so each peak RSS is its own):
 *  - main: graph build time, then time / combos per second / peak RSS to yield 1M unique novel
 *    combinations across the relation types with core/combos, plus the cost of catching up after
 *    new seeds arrive;
 *  - baseline: the obvious graphology + BFS-per-pair implementation (bench/baseline), time-boxed,
 *    its rate measured on the same graph and quotas;
 *  - registry: KC-registry merge throughput at 100K KCs (part B's bench/registry-merge.ts).
 * Writes bench/results/core.json and bench/results/core.md.
 *
 * Options: --novel N (default 1000000), --baseline-seconds S (default 30), --skip-registry.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSampler } from '../core/combos/index.ts';
import { KcGraph } from '../core/graph/index.ts';
import { NaiveSampler } from './baseline/naive-sampler.ts';
import { generateSeeds } from './kc-graph-gen.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHAPE = { kcs: 10_000, seeds: 7_500, seed: 42 };
const SAMPLER_SEED = 7;
const QUOTAS = { '1-hop': 0.1, '2-hop': 0.5, '3-hop': 0.2, community: 0.1, louvain: 0.1 };

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
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
  const targetNovel = arg('novel', 1_000_000);
  const { graph, buildMs } = buildGraph();
  const stats = graph.stats(5);
  const rssAfterGraph = rssMb();
  const retainedAfterGraph = retainedMb();
  const sampler = createSampler(graph, { seed: SAMPLER_SEED, quotas: QUOTAS });
  const perRelation: Record<string, number> = {};
  const novelPerRelation: Record<string, number> = {};
  let novel = 0;
  let total = 0;
  let sampledPeakRss = rssMb();
  const t = performance.now();
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
  const yieldedBytes = sampler.stats().yieldedBytes;
  const retainedAfterSampling = retainedMb();

  // Incremental catch-up: 200 new seeds on the full graph, then the next 10K combinations.
  const extra = generateSeeds({ ...SHAPE, seeds: 200, kcs: 300, seed: 99 }).seeds;
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
    seconds: round(seconds),
    combos_per_s: Math.round(novel / seconds),
    per_relation: perRelation,
    novel_per_relation: novelPerRelation,
    rss_after_graph_mb: round(rssAfterGraph),
    rss_peak_sampled_mb: round(sampledPeakRss),
    peak_rss_mb: round(peakRssMb()),
    yielded_set_mb: round(yieldedBytes / 2 ** 20),
    retained_after_graph_mb: retainedAfterGraph,
    retained_after_sampling_mb: retainedAfterSampling,
    incremental: { new_seeds: extra.length, next_10k_after_update_ms: round(catchUpMs), yielded: after.length },
    export_state: { bytes: state.length, ms: round(exportMs) },
  };
}

function runBaseline(): Record<string, unknown> {
  const seconds = arg('baseline-seconds', 30);
  const { graph, seeds } = buildGraph();
  const seedsOf = new Map<string, Set<string>>();
  for (const s of seeds) for (const k of s.kcIds) (seedsOf.get(k) ?? seedsOf.set(k, new Set()).get(k))!.add(s.id);
  const t0 = performance.now();
  const naive = new NaiveSampler(graph.graph, seedsOf, QUOTAS, SAMPLER_SEED);
  const setupMs = performance.now() - t0;
  let novel = 0;
  let total = 0;
  const t = performance.now();
  const deadline = t + seconds * 1000;
  while (performance.now() < deadline) {
    for (let i = 0; i < 100; i++) {
      const c = naive.next();
      if (!c) break;
      total++;
      if (c.novel) novel++;
    }
  }
  const elapsed = (performance.now() - t) / 1000;
  return {
    setup_ms: round(setupMs),
    seconds: round(elapsed),
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
  console.error('bench:core: main sampler ...');
  const main = child('main');
  console.error(`  ${main.combos} novel combos in ${main.seconds}s (${main.combos_per_s}/s), peak RSS ${main.peak_rss_mb} MB`);
  console.error('bench:core: baseline (time-boxed) ...');
  const baseline = child('baseline');
  console.error(`  ${baseline.combos} novel combos in ${baseline.seconds}s (${baseline.combos_per_s}/s)`);
  let registry: Record<string, unknown> = { registry: 'skipped (--skip-registry)' };
  if (!process.argv.includes('--skip-registry')) {
    console.error('bench:core: KC registry merge at 100K KCs ...');
    registry = child('registry');
  }
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, total_mem_gb: round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.arch()}` },
    kcs: main.nodes,
    seeds: main.seeds,
    edges: main.edges,
    graph_build_ms: main.graph_build_ms,
    combos: main.combos,
    seconds: main.seconds,
    combos_per_s: main.combos_per_s,
    baseline_combos_per_s: baseline.combos_per_s,
    speedup: round((main.combos_per_s as number) / (baseline.combos_per_s as number)),
    peak_rss_mb: main.peak_rss_mb,
    per_relation: main.per_relation,
    quotas: QUOTAS,
    main,
    baseline,
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
  const rel = Object.entries(m.per_relation as Record<string, number>)
    .map(([k, v]) => `${k} ${v} (novel ${(m.novel_per_relation as Record<string, number>)[k] ?? 0})`)
    .join(', ');
  const reg = r.registry.registry ? String(r.registry.registry) : JSON.stringify(r.registry);
  return `# Core benchmark (\`npm run bench:core\`)

${r.date} · ${r.machine.cpus} CPUs (${r.machine.cpu_model}) · Node ${r.machine.node}

Graph: ${r.kcs} KCs, ${r.seeds} seeds (1-5 KCs each, Zipf KC frequencies, seed ${SHAPE.seed}), ${r.edges} edges, max degree ${m.max_degree}; built in ${r.graph_build_ms} ms.
Quotas: ${JSON.stringify(r.quotas)}.

| | core/combos | baseline (graphology + BFS per pair) |
|---|---|---|
| novel combinations | ${m.combos} (of ${m.combos_total_yielded} yielded) | ${b.combos} (time-boxed, ${b.seconds} s) |
| time | ${m.seconds} s | ${b.seconds} s |
| novel combos/s | ${m.combos_per_s} | ${b.combos_per_s} |
| speedup | **${r.speedup}x** | 1x |
| peak RSS (own process) | ${m.peak_rss_mb} MB | ${b.peak_rss_mb} MB |

Per relation (main): ${rel}.
RSS after graph build ${m.rss_after_graph_mb} MB. Retained after a full GC (heap + typed arrays): ${m.retained_after_graph_mb} MB with the graph and sampler caches, ${m.retained_after_sampling_mb} MB after ${m.combos_total_yielded} yielded combinations (yielded-key set ${m.yielded_set_mb} MB); the rest of the peak RSS is garbage from the emitted batches that V8 had not yet collected.
Incremental: after ${m.incremental.new_seeds} new seeds, the next 10K combinations took ${m.incremental.next_10k_after_update_ms} ms (CSR snapshot rebuilt, hub layers recomputed, Louvain only after 5% edge growth; candidates opened by the new edges first).
Sampler state export: ${m.export_state.bytes} bytes in ${m.export_state.ms} ms.
KC registry merge (100K KCs): ${reg}
`;
}

const roleIndex = process.argv.indexOf('--role');
const role = roleIndex >= 0 ? process.argv[roleIndex + 1] : 'parent';
if (role === 'main') console.log(JSON.stringify(runMain()));
else if (role === 'baseline') console.log(JSON.stringify(runBaseline()));
else if (role === 'registry') console.log(JSON.stringify(await runRegistry()));
else await parent();
