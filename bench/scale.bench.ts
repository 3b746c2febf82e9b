/**
 * `npm run bench:scale [-- --scale S] [--keep]`: the pipeline at the paper's scale (S = 1: 7,500
 * seeds, 10,000 KCs, 2,100,000 combinations, candidates and verdicts; `--scale 10` ten times that).
 *
 * It resets the pipeline (topics, groups, database) and fills every topic with synthetic but
 * well-formed records through the real serde and producer (bench/scale/generate.ts), then measures,
 * each phase timed and every figure in the results:
 *  a. the fill: records/s and bytes per topic;
 *  b. clickhouse-sink's catch-up (`grip services run clickhouse-sink`): rows/s until every table
 *     holds every row; then ClickHouse's merges are let settle;
 *  g. the disk each topic and each table takes;
 *  f. every analytics query the dashboard and `grip report --from clickhouse` run, on the full
 *     tables; the report command's wall time; the dashboard's /api/report;
 *  c. the judge: cold start with no checkpoint (time, RSS, the checkpoint it writes), then a standby
 *     on the same state folder, SIGKILL of the active one, fresh candidates, and the time from the
 *     kill to the first new verdict (a fake model answers the judge prompts at once); peak RSS;
 *  d. concept-graph: cold start and restart (with its checkpoint), RSS;
 *  e. concept-extractor: the KC registry rebuild at start, RSS.
 * Writes bench/results/scale.json (runs by scale; a new run replaces its scale's) and scale.md (a
 * table per scale: each figure, its bar, pass/fail). Stops everything it started, and resets the
 * pipeline at the end unless --keep. Ctrl-C: writes what it measured so far, stops what it started,
 * resets, and says so. Needs the local stack (`npm run stack:up`): exits 2 saying so when it is not
 * running, and exits 2 before filling anything when the run would take the disk past half full.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Admin } from '@platformatic/kafka';
import { judgeConfigVersion, judgeModelsFrom, judgeSettingsFrom } from '../services/judge/handler.ts';
import { loadDecontamination } from '../services/runtime/benchmarks.ts';
import { loadConfig, REPO_ROOT, servicePortVar } from '../services/runtime/config.ts';
import { EmbeddingsClient } from '../services/runtime/embeddings.ts';
import { connectSerde, platformaticTransport } from '../services/runtime/kafka/index.ts';
import { serviceSettings } from '../services/runtime/service.ts';
import { spawnEndpoint, type BenchEndpoint } from './pipeline/endpoint.ts';
import { checkStack } from './pipeline/kafka.ts';
import { clickhouseClient, log, round, servicesEnvironment, settingsLines, workFolder, type ScaleContext } from './scale/context.ts';
import { diskSpace, estimatedBytes, tableSizes, topicSizes } from './scale/disk.ts';
import { fillTopics } from './scale/fill.ts';
import { resetPipelineAndDatabase } from './scale/reset.ts';
import { sizesFor, Synth } from './scale/generate.ts';
import { judgeScale } from './scale/judge.ts';
import { OptionsError, parseOptions, usage, type ScaleOptions } from './scale/options.ts';
import { runningProcesses } from './scale/process.ts';
import { completeSeedSimilarity, embeddingsServerRate, timeDashboard, timeQueries, timeReportCommand } from './scale/queries.ts';
import { sinkCatchUp } from './scale/sink.ts';
import { conceptExtractorScale, conceptGraphScale } from './scale/stages.ts';
import { barsApply, barsOf, markdownOf } from './scale/summary.ts';

/** The disk may be filled up to this share by a run (what it already holds included). */
const MAX_DISK_SHARE = 0.5;
/** The embeddings model's dimension when its server does not answer (multilingual-e5-small, the local stack's). */
const DEFAULT_DIMENSION = 384;

function machine() {
  return { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, total_mem_gb: round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.arch()}`, loadavg_1m: round(os.loadavg()[0]!) };
}

/** The dimension of the embeddings server's vectors (one request), or the local model's when it does not answer. */
async function embeddingsDimension(endpoint: ReturnType<typeof serviceSettings>['embeddingsEndpoint']): Promise<{ dimension: number; source: string }> {
  try {
    const client = new EmbeddingsClient({ endpoint, maxRetries: 1, timeoutMs: 15_000, patienceMs: 15_000 });
    const [v] = await client.embed(['scale benchmark: dimension probe']);
    return { dimension: v!.length, source: `${endpoint.baseUrl} (${endpoint.model})` };
  } catch (error) {
    return { dimension: DEFAULT_DIMENSION, source: `default: ${endpoint.baseUrl} did not answer (${(error as Error).message.split('\n')[0]})` };
  }
}

async function main(): Promise<number> {
  let options: ScaleOptions;
  try {
    if (process.argv.includes('--help')) {
      console.log(usage());
      return 0;
    }
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof OptionsError) {
      console.error(`bench:scale: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const started = performance.now();
  const sizes = sizesFor(options.scale);
  const baseConfig = loadConfig();
  const transport = platformaticTransport(baseConfig.kafka);
  const admin = transport.admin();
  const ch = clickhouseClient(baseConfig);
  const interrupts = new AbortController();
  let interruptedOnce = false;
  const onSigint = () => {
    if (interruptedOnce) {
      for (const p of runningProcesses()) p.kill('SIGKILL');
      process.exit(130);
    }
    interruptedOnce = true;
    log('interrupted: writing what was measured, stopping what the bench started (Ctrl-C again to kill at once) ...');
    interrupts.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  const run: Record<string, any> = { bench: 'scale', scale: options.scale, sizes, date: new Date().toISOString(), machine: machine(), phases: {}, failed_phases: [] as string[] };
  let endpoint: BenchEndpoint | undefined;
  let work: string | undefined;
  let filled = false;
  const killedPids: number[] = [];
  let leaderTopicsBefore: string[] = [];
  try {
    const disk = diskSpace(REPO_ROOT);
    const needGb = round(estimatedBytes(sizes.combinations) / 1e9);
    run.machine.disk_before = disk;
    run.disk_estimate_gb = needGb;
    if ((disk.used_gb + needGb) / (disk.used_gb + disk.available_gb) > MAX_DISK_SHARE) {
      run.not_run = `needs about ${needGb} GB (Kafka logs and ClickHouse parts); the file system holding ${REPO_ROOT} has ${disk.used_gb} GB used and ${disk.available_gb} GB available (${Math.round(disk.used_share * 100)}% used, as df counts), and a run may not take it past ${MAX_DISK_SHARE * 100}%`;
      console.error(`bench:scale: --scale ${options.scale} ${run.not_run}: nothing was changed`);
      writeResults(options, run);
      return 2;
    }
    try {
      await checkStack(admin, baseConfig);
      await ch.ping().then((r) => {
        if (!r.success) throw r.error;
      });
    } catch (error) {
      console.error(`bench:scale: ${(error as Error).message.includes('stack') ? (error as Error).message : `ClickHouse at ${baseConfig.clickhouse.url} does not answer (${(error as Error).message}); start the local stack with \`npm run stack:up\``}`);
      return 2;
    }
    leaderTopicsBefore = (await admin.listTopics()).filter((t) => t.startsWith('grip.leader.'));

    endpoint = await spawnEndpoint({ latencyMs: 0, slots: 256 });
    work = workFolder();
    const settingsFile = path.join(work, 'grip.yaml');
    writeFileSync(settingsFile, settingsLines(sizes).join('\n') + '\n');
    const env = servicesEnvironment(work, options.portBase, { GRIP_CONFIG: settingsFile, GRIP_LLM_BASE_URL: endpoint.baseUrl });
    const config = loadConfig(env);
    const settings = serviceSettings(config);
    // the judge's configuration version, computed as the judge computes it from the same settings
    const decontam = await loadDecontamination(settings);
    const version = judgeConfigVersion(judgeSettingsFrom(settings), judgeModelsFrom(settings), decontam, settings.domainPack.prompts);
    const dimension = await embeddingsDimension(settings.embeddingsEndpoint);
    log(`--scale ${options.scale}: ${sizes.seeds} seeds, ${sizes.kcs} KCs, ${sizes.combinations} combinations; judge config ${version}; ${dimension.dimension}-dimension KC vectors (${dimension.source}); work folder ${work}`);
    run.settings = { file: settingsLines(sizes), judge_config_version: version, embeddings_model: settings.embeddingsEndpoint.model, embeddings_dimension: dimension, fake_model: 'test/fixtures/openai-server.ts in a child process (0 ms, 256 slots), every LLM step', port_base: options.portBase };
    const t = performance.now();
    const synth = new Synth({ sizes, settings, judgeConfigVersion: version, judgeModels: judgeModelsFrom(settings), llmModel: settings.endpoints.synthesize?.model ?? 'local-instruct', embeddingsModel: settings.embeddingsEndpoint.model, dimension: dimension.dimension, endAt: Date.now(), spanMs: 3 * 86_400_000 });
    log(`seeds, KC registry and concepts made in ${round((performance.now() - t) / 1000)} s`);
    const ctx: ScaleContext = {
      options,
      sizes,
      env,
      config,
      settings,
      judgeConfigVersion: version,
      transport,
      admin,
      serde: await connectSerde({ url: config.registry.url }),
      clickhouse: ch,
      synth,
      work,
      logDir: path.join(work, 'logs'),
      signal: interrupts.signal,
      produced: {},
    };
    const port = (service: string, offset = 0) => Number(env[servicePortVar(service)]) + offset;

    const phase = async (name: string, body: () => Promise<unknown>, fatal = false) => {
      if (interrupts.signal.aborted) return;
      const t0 = performance.now();
      try {
        run.phases[name] = await body();
      } catch (error) {
        if (interrupts.signal.aborted) {
          run.phases[name] = { interrupted: true };
          return;
        }
        run.failed_phases.push(name);
        run.phases[name] = { error: (error as Error).message };
        log(`${name} failed: ${(error as Error).message}`);
        if (fatal) throw error;
      } finally {
        if (run.phases[name] && typeof run.phases[name] === 'object') run.phases[name].phase_seconds = round((performance.now() - t0) / 1000);
      }
    };

    filled = true;
    await phase('fill', () => fillTopics(ctx), true);
    await phase('sink', () => sinkCatchUp(ctx, port('clickhouse-sink')), true);
    await phase('disk', async () => ({ topics: await topicSizes(ctx), tables: await tableSizes(ctx), file_system: diskSpace(REPO_ROOT) }));
    // The first report after the fill finds every accepted problem without a similarity row and
    // backfills up to 5,000 of them through the embeddings endpoint: timed with the fake endpoint
    // (instant answers), so the figure is the pipeline's side of it, not a CPU embeddings server.
    await phase('report_backlog', () => timeReportCommand(ctx, 'similarity backlog, fake embeddings endpoint', { GRIP_EMBEDDINGS_BASE_URL: endpoint!.baseUrl }));
    // then the state a running pipeline keeps (the dashboard backfills at every refresh): every
    // accepted problem has its similarity rows; queries, report and dashboard on the full tables
    await phase('similarity_rows', () => completeSeedSimilarity(ctx));
    await phase('queries', () => timeQueries(ctx));
    await phase('report', () => timeReportCommand(ctx, 'full tables, the stack\'s embeddings server'));
    await phase('dashboard', () => timeDashboard(ctx, port('dashboard')));
    await phase('embeddings_server', () => embeddingsServerRate(ctx));
    await phase('judge', () => judgeScale(ctx, { a: port('judge'), b: options.portBase + 50 }, killedPids));
    await phase('concept_graph', () => conceptGraphScale(ctx, port('concept-graph')));
    await phase('concept_extractor', () => conceptExtractorScale(ctx, port('concept-extractor')));
  } catch (error) {
    if (!interrupts.signal.aborted) {
      run.error = (error as Error).message;
      log(`stopped: ${(error as Error).message}`);
    }
  } finally {
    run.interrupted = interrupts.signal.aborted;
    const stillRunning = runningProcesses();
    await Promise.all(stillRunning.map((p) => p.stop(30_000)));
    if (stillRunning.length > 0) log(`stopped ${stillRunning.length} service process(es) the bench had started`);
    await endpoint?.stop();
    run.cleanup = await cleanUp({ filled, keep: options.keep, config: baseConfig, admin, ch, killedPids, leaderTopicsBefore, work });
    run.bench_seconds = round((performance.now() - started) / 1000);
    run.machine.loadavg_1m_end = round(os.loadavg()[0]!);
    if (filled) writeResults(options, run);
    await admin.close().catch(() => undefined);
    await ch.close().catch(() => undefined);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  if (run.interrupted) {
    log('interrupted: the results hold what was measured so far; every process the bench started was stopped');
    return 130;
  }
  return run.error || run.failed_phases.length > 0 ? 1 : 0;
}

/**
 * Leaves the stack as a test run expects it: the pipeline reset (topics, groups, database) unless
 * --keep; the log readers' groups of the SIGKILLed instance and the lease topics the bench created
 * removed in any case; the bench's folder deleted unless --keep.
 */
async function cleanUp(o: { filled: boolean; keep: boolean; config: ReturnType<typeof loadConfig>; admin: ReturnType<ReturnType<typeof platformaticTransport>['admin']>; ch: ReturnType<typeof clickhouseClient>; killedPids: number[]; leaderTopicsBefore: string[]; work: string | undefined }) {
  const done: string[] = [];
  const problems: string[] = [];
  const attempt = async (what: string, body: () => Promise<unknown>) => {
    try {
      await body();
      done.push(what);
    } catch (error) {
      problems.push(`${what}: ${(error as Error).message}`);
    }
  };
  if (o.killedPids.length > 0) {
    await attempt(`log-reader groups of the SIGKILLed process(es) ${o.killedPids.join(', ')} deleted`, async () => {
      const admin = new Admin({ clientId: `${o.config.kafka.clientId}-scale-bench`, bootstrapBrokers: o.config.kafka.bootstrapServers });
      try {
        const groups = [...(await admin.listGroups()).keys()].filter((g) => g.startsWith('grip-reader.') && o.killedPids.some((pid) => g.includes(`.${pid}.`)));
        if (groups.length > 0) await o.admin.deleteGroups(groups);
      } finally {
        await admin.close().catch(() => undefined);
      }
    });
  }
  if (o.filled && !o.keep) {
    let took = { kafka_seconds: 0, drop_database_seconds: 0 };
    await attempt('pipeline reset (topics, consumer groups, database)', async () => (took = await resetPipelineAndDatabase(o.config, o.ch)));
    done.push(`reset took ${took.kafka_seconds} s (Kafka) + ${took.drop_database_seconds} s (DROP DATABASE)`);
  }
  if (o.filled) {
    const created = (await o.admin.listTopics().catch(() => [] as string[])).filter((t) => t.startsWith('grip.leader.') && !o.leaderTopicsBefore.includes(t));
    if (created.length > 0) {
      await attempt(`lease topics and groups the bench created deleted (${created.join(', ')})`, async () => {
        await o.admin.deleteTopics(created);
        // a lease's consumer group is named after its topic (leader.ts)
        await o.admin.deleteGroups(created).catch(() => undefined);
      });
    }
  }
  if (o.work && !o.keep) await attempt(`bench folder ${o.work} removed`, async () => rmSync(o.work!, { recursive: true, force: true }));
  else if (o.work) done.push(`kept: ${o.work} (settings, state folders, service logs)`);
  for (const d of done) log(`cleanup: ${d}`);
  for (const p of problems) log(`cleanup problem: ${p}`);
  return { done, problems };
}

function writeResults(options: ScaleOptions, run: Record<string, any>): void {
  const out = path.resolve(REPO_ROOT, options.out);
  mkdirSync(path.dirname(out), { recursive: true });
  let results: { runs: Record<string, Record<string, any>> } = { runs: {} };
  if (existsSync(out)) {
    try {
      const previous = JSON.parse(readFileSync(out, 'utf8'));
      if (previous && typeof previous.runs === 'object') results = previous;
    } catch {
      // an unreadable file is replaced
    }
  }
  const bars = run.not_run ? [] : barsOf(run);
  if (!run.not_run) {
    run.bars = bars;
    run.all_bars_met = barsApply(run.scale) ? bars.every((b) => b.pass !== false) && bars.some((b) => b.pass === true) : null;
  }
  // a run refused up front does not replace the figures of a run that happened
  if (run.not_run && results.runs[String(options.scale)] && !results.runs[String(options.scale)]!.not_run) {
    log(`not recorded: ${path.relative(process.cwd(), out)} keeps the measured run of --scale ${options.scale}`);
    return;
  }
  results.runs[String(options.scale)] = run;
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(out.replace(/\.json$/, '') + '.md', markdownOf(results));
  const missed = bars.filter((b) => b.pass === false).map((b) => b.figure);
  log(`wrote ${path.relative(process.cwd(), out)} and its .md; ${run.not_run ? `--scale ${options.scale} not run` : barsApply(run.scale) ? (missed.length === 0 ? 'every bar met' : `bars missed: ${missed.join('; ')}`) : 'no bars at this scale'}`);
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(`bench:scale: ${(error as Error).message}`);
  process.exitCode = 1;
}
// the Kafka clients may hold timers; the bench is done
setTimeout(() => process.exit(), 1000).unref();
