/** dashboard, declared: the analytics page; reads ClickHouse only and serves its own port. */
import { declareService } from '../runtime/stage.ts';
import { DASHBOARD_PORT, startDashboard } from './server.ts';

export const dashboard = declareService({
  name: 'dashboard',
  description: 'the novelty and acceptance dashboard (ClickHouse -> an ECharts page)',
  port: DASHBOARD_PORT,
  scaling: 'any',
  llmSteps: [],
  produces: [],
  consumes: [],
  needsKafka: false,
  ownsPort: true,
  start: async (ctx) => {
    const server = await startDashboard(ctx.config, { port: ctx.port, log: (line) => ctx.log('info', line) });
    let stopped!: () => void;
    const done = new Promise<void>((resolve) => (stopped = resolve));
    return { healthy: () => true, done, stop: async () => { await server.close(); stopped(); } };
  },
});
