/**
 * The `grip` command line. Each command is a thin edge over the library and the services' code.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { integer } from './args.ts';
import { ConfigError, loadConfig, type GripConfig } from '../services/runtime/config.ts';
import { checkConfigNames, LLM_STEPS } from '../services/stages.ts';
import { readVerdicts, writeDataset } from './run/outputs.ts';
import { runPipeline, RunError } from './run/pipeline.ts';
import { createProgress } from './run/progress.ts';
import { renderReportMarkdown, type RunReport } from './run/report.ts';
import { SeedFileError } from './run/seeds-file.ts';
import { checkRunInput } from './run/preflight.ts';
import { BenchmarkFileError } from '../services/runtime/benchmarks.ts';
import { DomainError } from '../services/runtime/domains.ts';
import { registerPipelineCommands } from './ops/commands.ts';
import { ServicesError } from './ops/manager.ts';
import { parseRunFile, readRunFile, resolveRunSettings, SettingsError, type RunSettings } from '../services/runtime/settings.ts';

/** Starts the local stack's model servers when the run points at them and they are not running. */
async function ensureLocalModels(config: GripConfig, settings: RunSettings, log: (m: string) => void): Promise<() => Promise<void>> {
  const needed: Array<'llm' | 'embeddings'> = [];
  if (Object.values(settings.endpoints).some((e) => e.baseUrl === config.llm.default.baseUrl)) needed.push('llm');
  if (settings.embeddingsEndpoint.baseUrl === config.embeddings.baseUrl) needed.push('embeddings');
  if (needed.length === 0) return async () => {};
  const { stackUp, stackDown } = await import('../deploy/local/stack.ts');
  log(`starting local model servers: ${needed.join(', ')} (first use installs them into ${config.cacheDir})`);
  const { started } = await stackUp(config, { only: needed, progress: (m) => log(`[stack] ${m}`) });
  return async () => {
    if (started.length > 0) await stackDown(config, { only: started });
  };
}

export function buildProgram(): Command {
  const program = new Command('grip').description('GRIP: graph-based synthesis of verified reasoning problems').showHelpAfterError();

  program
    .command('run')
    .description('run every stage in one process: seeds -> concepts -> combinations -> candidates -> verdicts')
    .requiredOption('--seeds <file>', 'seed file (JSONL or CSV)')
    .requiredOption('--out <dir>', 'output folder (created; the same folder resumes a stopped run)')
    .option('--limit <n>', 'use the first N valid seeds', integer('--limit'))
    .option('--config <file>', 'settings file (YAML)')
    .option('--domain <name>', 'domain pack, a folder of domains/ (overrides the config; default competition-math)')
    .option('--problem-field <name>', "field holding the problem (default: the domain's, e.g. problem)")
    .option('--solution-field <name>', "field holding the solution (default: the domain's, e.g. solution)")
    .option('--id-field <name>', 'field holding the seed id')
    .option('--combinations <n>', 'combinations to synthesize (overrides the config)', integer('--combinations'))
    .option('--seed <n>', 'RNG seed (overrides the config)', integer('--seed'))
    .option('--concurrency <n>', 'ceiling of model requests in flight per endpoint (default: auto, adapts to each endpoint)', integer('--concurrency'))
    .option('--llm-base-url <url>', 'OpenAI-compatible base URL for every LLM stage')
    .option('--llm-model <name>', 'model name for every LLM stage')
    .option('--strict', 'stop at the first malformed seed line instead of skipping it')
    .option('--quiet', 'print only warnings and the final summary')
    .option('--log <format>', 'progress format: bars or json', 'bars')
    .action(async (o) => {
      const config = loadConfig();
      checkConfigNames(config);
      const file = o.config ? readRunFile(o.config) : parseRunFile({});
      if (o.llmBaseUrl) {
        try {
          new URL(o.llmBaseUrl);
        } catch {
          throw new SettingsError(`--llm-base-url: expected an http(s) URL, got "${o.llmBaseUrl}"`);
        }
      }
      const settings = resolveRunSettings(file, { domain: o.domain, llmBaseUrl: o.llmBaseUrl, llmModel: o.llmModel, seed: o.seed, combinations: o.combinations, concurrency: o.concurrency }, config, LLM_STEPS);
      const progress = createProgress(o.quiet ? 'quiet' : o.log === 'json' ? 'json' : 'bars');
      const log = (m: string) => (o.quiet ? undefined : process.stderr.write(`${m}\n`));
      // Seeds, field mapping and decontamination sets are checked before any model server starts.
      const fields = await checkRunInput(o.seeds, { problem: o.problemField, solution: o.solutionField, id: o.idField }, settings, (m) => process.stderr.write(`grip: note: ${m}\n`));
      const stopModels = await ensureLocalModels(config, settings, log);
      let report: RunReport;
      try {
        report = await runPipeline({
          seedsFile: o.seeds,
          outDir: o.out,
          limit: o.limit,
          strict: o.strict,
          fields,
          settings,
          progress,
        });
      } finally {
        progress.done();
        await stopModels();
      }
      process.stdout.write(
        `accepted ${report.accepted} of ${report.verdicts} judged candidates (${report.candidates} made, ` +
          `${Object.values(report.dlq_by_stage).reduce((a, b) => a + b, 0)} inputs in dlq.jsonl) from ${report.seeds.valid} seeds ` +
          `(${report.kcs} KCs, ${report.combinations.total} combinations, novelty ${report.novelty_rate === null ? 'n/a' : (report.novelty_rate * 100).toFixed(1) + '%'}) in ${report.wall_seconds} s\n` +
          `wrote ${['accepted.jsonl', 'accepted.parquet', 'rejected.jsonl', 'dlq.jsonl', 'report.json', 'report.md'].map((f) => path.join(o.out, f)).join(', ')}\n`,
      );
    });

  program
    .command('report')
    .description("print a finished run's report, or (--from clickhouse) the live pipeline's figures")
    .argument('[dir]', 'the folder of a `grip run`')
    .option('--from <source>', 'read the figures from the pipeline\'s database instead: clickhouse')
    .option('--judge-config <version>', 'with --from clickhouse: figures for this judge config (default: the newest)')
    .option('--json', 'print JSON')
    .action(async (dir: string | undefined, o) => {
      if (o.from !== undefined && o.from !== 'clickhouse') throw new RunError(`--from: expected clickhouse, got "${o.from}"`);
      if ((dir === undefined) === (o.from === undefined)) {
        throw new RunError(dir === undefined ? 'report: give a run folder (grip report DIR) or --from clickhouse' : 'report: give either a run folder or --from clickhouse, not both');
      }
      if (o.from === 'clickhouse') {
        const { printClickHouseReport } = await import('./report-clickhouse.ts');
        try {
          return await printClickHouseReport(loadConfig(), { json: o.json, judgeConfig: o.judgeConfig });
        } catch (error) {
          throw (error as Error)?.name === 'AnalyticsError' ? new RunError(`report --from clickhouse: ${(error as Error).message}`) : error;
        }
      }
      if (o.judgeConfig !== undefined) throw new RunError('--judge-config goes with --from clickhouse');
      const file = path.join(dir!, 'report.json');
      if (!fs.existsSync(file)) throw new RunError(`${dir} holds no finished run (no report.json)`);
      const report = JSON.parse(fs.readFileSync(file, 'utf8')) as RunReport;
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : renderReportMarkdown(report));
    });

  program
    .command('export')
    .description("re-export a finished run's accepted pairs")
    .argument('<dir>', 'the folder of a `grip run`')
    .requiredOption('--format <format>', 'jsonl or parquet')
    .action((dir: string, o) => {
      if (o.format !== 'jsonl' && o.format !== 'parquet') throw new SettingsError(`--format: expected jsonl or parquet, got "${o.format}"`);
      const rows = writeDataset(dir, readVerdicts(dir), o.format);
      process.stdout.write(`wrote ${rows.length} rows to ${path.join(dir, `accepted.${o.format}`)}\n`);
    });

  program
    .command('db')
    .description('ClickHouse schema')
    .command('migrate')
    .description('apply the numbered migrations in deploy/clickhouse to CLICKHOUSE_DATABASE (or roll back with --down)')
    .option('--to <NNNN>', 'stop at (or, with --down, roll back to) this migration number')
    .option('--down', 'roll back instead of applying')
    .option('--dir <dir>', 'migrations folder (default deploy/clickhouse)')
    .action(async (o) => {
      const { runMigrateCommand } = await import('../services/clickhouse-sink/migrate.ts');
      const args = [...(o.to ? ['--to', o.to] : []), ...(o.down ? ['--down'] : []), ...(o.dir ? ['--dir', o.dir] : [])];
      process.exitCode = await runMigrateCommand(args);
    });

  registerPipelineCommands(program);
  return program;
}

const KNOWN_ERRORS = [ConfigError, SettingsError, SeedFileError, RunError, ServicesError, BenchmarkFileError, DomainError];

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0; // a command may have set its own
  } catch (error) {
    const known = KNOWN_ERRORS.some((E) => error instanceof E) || (error as Error)?.name === 'StackError';
    process.stderr.write(`grip: ${known ? (error as Error).message : ((error as Error)?.stack ?? String(error))}\n`);
    return known ? 2 : 1;
  }
}
