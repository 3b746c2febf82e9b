/**
 * The streaming pipeline's commands: `grip services up|down|status|run`, `grip seed add`,
 * `grip replay`, `grip dlq list|replay`. Thin edges over services/ and the shared runtime.
 */
import { openText } from '../../services/runtime/text-files.ts';
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { integer } from '../args.ts';
import { loadConfig, type GripConfig } from '../../services/runtime/config.ts';
import { consumerGroupsOf, portOf, SERVICE_NAMES, SERVICES, type ServiceName } from '../../services/stages.ts';
import { connectKafka, jsonLogger, runService } from '../../services/runtime/service.ts';
import { publishStream } from '../../services/seed-ingest/publish.ts';
import { readRunFile } from '../../services/runtime/settings.ts';
import { listDeadLetters, replayDeadLetters } from './dlq.ts';
import { serviceState, ServicesError, startService, stopService } from './manager.ts';
import { downGroup, supervise, supervisorRunning, upGroup } from './supervisor.ts';

/** Services a replay can rewind: those that read a topic. */
const REPLAYABLE = SERVICES.filter((s) => consumerGroupsOf(s.name).length > 0).map((s) => s.name);

function serviceList(only: string | undefined, all: readonly ServiceName[]): ServiceName[] {
  if (!only) return [...all];
  const names = only.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!all.includes(n as ServiceName)) throw new ServicesError(`--only: unknown service "${n}" (services: ${all.join(', ')})`);
  return names as ServiceName[];
}

/** The services `up` starts, upstream first. */
function managedServices(): ServiceName[] {
  return [...SERVICE_NAMES];
}

function checkSettingsFile(file: string | undefined): void {
  if (file) readRunFile(file); // validated before any process starts: errors name the field
}

async function runOne(name: ServiceName): Promise<void> {
  const handle = await runService(name);
  try {
    await handle.done;
  } catch (error) {
    process.stderr.write(`grip services run ${name}: crashed: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  }
  // Stopped and drained: idle keep-alive sockets of HTTP clients must not hold the process.
  process.exit(0);
}

export function registerPipelineCommands(program: Command): void {
  const services = program.command('services').description('run the pipeline as local services (one process each)');

  services
    .command('up')
    .description('start every service that is not running, in the background, and the supervisor that restarts crashed ones; waits until each is healthy')
    .option('--config <file>', 'settings file (YAML, as `grip run --config`) for the services')
    .option('--only <names>', 'comma-separated services to start')
    .option('--restart-all', 'with --config: restart every running service with these settings')
    .action(async (o) => {
      checkSettingsFile(o.config);
      const config = loadConfig();
      const started = await upGroup(config, serviceList(o.only, managedServices()), managedServices(), { settingsFile: o.config, restartAll: o.restartAll, log: (line) => process.stdout.write(`${line}\n`) });
      for (const { name, started: s, record } of started) process.stdout.write(`${name.padEnd(18)} ${s ? 'started' : 'running'}  pid ${record.pid}  ${record.url}  log ${record.log}\n`);
    });

  services
    .command('down')
    .description('stop the supervisor, then the services started by `up` (SIGTERM: each drains, commits and disconnects)')
    .option('--only <names>', 'comma-separated services to stop (the supervisor keeps watching the others)')
    .action(async (o) => {
      await downGroup(loadConfig(), serviceList(o.only, managedServices()), (line) => process.stdout.write(`${line}\n`), !o.only);
    });

  services
    .command('status')
    .description('which services run, whether they answer /healthz, and how often the supervisor restarted them')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const config = loadConfig();
      const states = await Promise.all(managedServices().map((name) => serviceState(config, name)));
      const supervisor = supervisorRunning(config);
      if (o.json) {
        const out = Object.fromEntries(
          states.map((s) => [
            s.name,
            { running: s.running, healthy: s.healthy, health: s.health, pid: s.running ? s.record!.pid : null, restarts: s.record?.restarts ?? 0, settings_file: s.record?.settings_file ?? null, url: s.record?.url ?? `http://${config.services.host}:${portOf(config, s.name)}`, log: s.record?.log ?? null },
          ]),
        );
        process.stdout.write(`${JSON.stringify({ ...out, supervisor: { running: supervisor !== null, pid: supervisor?.pid ?? null } }, null, 2)}\n`);
      } else {
        for (const s of states) {
          const what = !s.running ? 'stopped' : s.healthy ? 'healthy' : (s.health?.status ?? 'unhealthy');
          const why = s.health && s.health.status !== 'ok' && s.health.reason ? `  (${[s.health.dependency, s.health.reason, s.health.since && `since ${s.health.since}`].filter(Boolean).join(': ')})` : '';
          process.stdout.write(`${s.name.padEnd(18)} ${what.padEnd(9)} ${s.running ? `pid ${s.record!.pid}  ${s.record!.url}  restarts ${s.record!.restarts ?? 0}${why}` : ''}\n`);
        }
        process.stdout.write(`${'supervisor'.padEnd(18)} ${supervisor ? `running   pid ${supervisor.pid}` : 'stopped'}\n`);
      }
      if (states.some((s) => s.running && !s.healthy)) process.exitCode = 1;
    });

  services
    .command('supervise')
    .description('the supervisor `up` starts in the background: restarts crashed services with their recorded settings')
    .action(async () => {
      await supervise(loadConfig());
      process.exit(0);
    });

  services
    .command('run')
    .description('run one service in the foreground (what `up` starts; containers run this)')
    .argument('<name>', `one of: ${SERVICE_NAMES.join(', ')}`)
    .action(async (name: string) => {
      if (!SERVICE_NAMES.includes(name)) throw new ServicesError(`unknown service "${name}" (services: ${SERVICE_NAMES.join(', ')})`);
      await runOne(name);
    });

  program
    .command('seed')
    .description('seeds')
    .command('add')
    .description('send the seeds of a JSONL file to grip.seeds (bad lines go to grip.seeds.dlq with the reason)')
    .argument('<file>', 'JSONL file (plain or .gz), one seed per line')
    .option('--problem-field <name>', 'field holding the problem', 'problem')
    .option('--solution-field <name>', 'field holding the solution', 'solution')
    .option('--id-field <name>', 'field holding the seed id')
    .option('--limit <n>', 'send only the first N lines', integer('--limit'))
    .option('--json', 'print the result as JSON')
    .action(async (file: string, o) => {
      if (!fs.existsSync(file)) throw new ServicesError(`${file}: no such seed file`);
      const config = loadConfig();
      const { transport, serde } = await connectKafka(config, jsonLogger('seed-add'), 10_000);
      const producer = transport.producer();
      try {
        // Streamed (plain or gzip JSONL): a file of any size is read a chunk at a time and sent in requests split by bytes.
        const fields = { problem: o.problemField, solution: o.solutionField, id: o.idField };
        const result = await publishStream(openText(file), { producer, serde, fields, source: path.basename(file) }, { limit: o.limit });
        if (o.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        else {
          for (const r of result.rejections) process.stderr.write(`${file}:${r.line}: ${r.message} (${r.reason}; sent to grip.seeds.dlq)\n`);
          if (result.rejected > result.rejections.length) process.stderr.write(`... and ${result.rejected - result.rejections.length} more rejected lines (grip dlq list --stage seed-ingest)\n`);
          process.stdout.write(`sent ${result.accepted} seeds to grip.seeds (${result.duplicates} duplicate lines sent once, ${result.rejected} rejected lines to grip.seeds.dlq)\n`);
        }
      } finally {
        await producer.close();
      }
    });

  program
    .command('replay')
    .description("reprocess a stage's input from an offset or a time (the stage is stopped, rewound and started again)")
    .requiredOption('--stage <name>', `one of: ${REPLAYABLE.join(', ')}`)
    .addOption(new Option('--from-offset <n>', 'rewind every partition of the input topic to this offset').argParser(integer('--from-offset')).conflicts('fromTime'))
    .addOption(new Option('--from-time <time>', 'rewind to the first message at or after this time (ISO 8601 or ms since the epoch)').conflicts('fromOffset'))
    .option('--config <file>', 'settings file for the restarted stage (e.g. another judging threshold)')
    .action(async (o) => {
      const stage = o.stage as string;
      if (!REPLAYABLE.includes(stage)) {
        throw new ServicesError(SERVICE_NAMES.includes(stage) ? `--stage: ${stage} reads no topic (send its input again instead)` : `--stage: unknown stage "${stage}" (stages: ${REPLAYABLE.join(', ')})`);
      }
      if (o.fromOffset === undefined && o.fromTime === undefined) throw new ServicesError('give --from-offset N or --from-time T');
      const target = o.fromOffset !== undefined ? { offset: BigInt(o.fromOffset) } : { timestamp: parseTime(o.fromTime) };
      checkSettingsFile(o.config);
      const config = loadConfig();
      const before = await serviceState(config, stage);
      if (before.running) {
        process.stdout.write(`stopping ${stage} (pid ${before.record!.pid})\n`);
        await stopService(config, stage);
      }
      const { transport } = await connectKafka(config, jsonLogger('replay'), 10_000);
      const admin = transport.admin();
      try {
        for (const { groupId, topic } of consumerGroupsOf(stage)) {
          let set;
          try {
            set = await admin.resetGroupOffsets(groupId, topic, target);
          } catch (error) {
            throw new ServicesError(`cannot rewind group ${groupId} on ${topic}: ${(error as Error).message}. Is ${stage} still running elsewhere? Stop every instance first.`);
          }
          process.stdout.write(`${groupId} on ${topic}: ${set.map((s) => `p${s.partition}@${s.offset}`).join(' ')}\n`);
        }
      } finally {
        await admin.close();
      }
      if (before.running || o.config) {
        const { record } = await startService(config, stage, { settingsFile: o.config ?? before.record?.settings_file ?? undefined });
        process.stdout.write(`started ${stage} (pid ${record.pid}); it reprocesses from there\n`);
      } else {
        process.stdout.write(`${stage} was not running: start it (grip services up --only ${stage}) to reprocess\n`);
      }
    });

  const dlq = program.command('dlq').description('dead-letter queues');
  dlq
    .command('list')
    .description('dead letters of every stage (or one), with their reasons')
    .option('--stage <name>', 'only this stage')
    .option('--json', 'print JSON lines')
    .action(async (o) => {
      const config = loadConfig();
      const letters = await listDeadLetters(config, { stage: o.stage });
      for (const l of letters) {
        if (o.json) process.stdout.write(`${JSON.stringify(l)}\n`);
        else process.stdout.write(`${l.dlq_topic}@${l.partition}:${l.offset}  ${l.stage.padEnd(17)} ${l.reason.padEnd(22)} key=${l.key}  ${l.detail.slice(0, 160)}\n`);
      }
      if (!o.json) process.stdout.write(`${letters.length} dead letters\n`);
    });
  dlq
    .command('replay')
    .description('send dead letters not replayed before back to the stage they failed in (seed-ingest rejects are checked again with their field mapping)')
    .option('--stage <name>', 'only this stage')
    .option('--reason <reason>', 'only this reason')
    .option('--again', 'also send the letters an earlier replay sent')
    .action(async (o) => {
      const config: GripConfig = loadConfig();
      const result = await replayDeadLetters(config, { stage: o.stage, reason: o.reason, again: o.again });
      process.stdout.write(`replayed ${result.replayed} dead letters (${result.skipped} replayed before, left out; ${result.seedsAccepted} seed lines accepted, ${result.seedsRejected} rejected again)\n`);
    });
}

function parseTime(value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new ServicesError(`--from-time: expected ISO 8601 (2026-12-02T10:00:00Z) or milliseconds, got "${value}"`);
  return ms;
}
