/**
 * npm run stack:up | stack:status [-- --json] | stack:down [-- --purge]
 * Progress and errors go to stderr; `status --json` prints exactly one JSON object on stdout.
 */
import { loadConfig } from '../../services/runtime/config.ts';
import { COMPONENTS, describeStackError, stackDown, stackStatus, type StackStatus, stackUp } from './stack.ts';

const USAGE = 'usage: cli.ts up | status [--json] | down [--purge]';

function table(status: StackStatus): string {
  const rows = COMPONENTS.map((name) => {
    const s = status[name];
    return [name, s.healthy ? 'healthy' : s.state === 'stopped' ? 'stopped' : 'UNHEALTHY', s.state, s.pid ? String(s.pid) : '-', s.url, s.log ?? '-'];
  });
  const header = ['component', 'health', 'state', 'pid', 'url', 'log'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  return [header, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i] as number)).join('  ').trimEnd()).join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [command, ...flags] = argv;
  const allowed: Record<string, string[]> = { up: [], status: ['--json'], down: ['--purge'] };
  if (command === undefined || !(command in allowed)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const unknown = flags.filter((f) => !allowed[command]?.includes(f));
  if (unknown.length > 0) {
    process.stderr.write(`unknown option(s) for ${command}: ${unknown.join(' ')}\n${USAGE}\n`);
    return 2;
  }
  const config = loadConfig();

  if (command === 'up') {
    const t0 = Date.now();
    try {
      const result = await stackUp(config);
      process.stdout.write(`${table(result.status)}\n`);
      const unhealthy = COMPONENTS.filter((n) => !result.status[n].healthy);
      process.stderr.write(
        `[stack] up in ${((Date.now() - t0) / 1000).toFixed(1)} s` +
          (result.started.length ? ` (started: ${result.started.join(', ')})` : ' (already running)') + '\n',
      );
      return unhealthy.length === 0 ? 0 : 1;
    } catch (err) {
      process.stderr.write(`stack:up failed: ${describeStackError(err)}\n`);
      return 1;
    }
  }

  if (command === 'status') {
    const status = await stackStatus(config);
    if (flags.includes('--json')) process.stdout.write(`${JSON.stringify(status)}\n`);
    else process.stdout.write(`${table(status)}\n`);
    return 0;
  }

  const { stopped } = await stackDown(config, { purge: flags.includes('--purge') });
  process.stderr.write(
    `[stack] stopped: ${stopped.length ? stopped.join(', ') : 'nothing was running'}` +
      (flags.includes('--purge') ? '; data and logs purged' : '') + '\n',
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${describeStackError(err)}\n`);
    process.exit(1);
  },
);
