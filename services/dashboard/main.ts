/**
 * `npx tsx services/dashboard/main.ts`: the dashboard as a process, on GRIP_SERVICES_HOST :
 * GRIP_DASHBOARD_PORT (127.0.0.1:9410 by default), reading CLICKHOUSE_* like every service.
 * SIGINT/SIGTERM close it cleanly.
 */
import { loadConfig } from '../runtime/config.ts';
import { startDashboard } from './server.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);
const dashboard = await startDashboard(loadConfig(), { log });
process.stdout.write(`${dashboard.url}\n`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`dashboard: ${signal}, closing`);
    dashboard.close().then(
      () => process.exit(0),
      (error: Error) => {
        log(`dashboard: close failed: ${error.message}`);
        process.exit(1);
      },
    );
  });
}
