/**
 * The dashboard answers only known Hosts (DNS rebinding) and never shows ClickHouse credentials,
 * not even in the error it reports when ClickHouse is unreachable (port 1: nothing listens).
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../services/runtime/config.ts';
import { startDashboard, type Dashboard } from '../../../services/dashboard/server.ts';

let dashboard: Dashboard;
beforeAll(async () => {
  const config = loadConfig({ CLICKHOUSE_URL: 'http://admin:hunter2@127.0.0.1:1', CLICKHOUSE_PASSWORD: 'hunter2' });
  dashboard = await startDashboard(config, { port: 0, host: '127.0.0.1' });
});
afterAll(() => dashboard.close());

const get = (path: string, host?: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.get(`${dashboard.url}${path}`, { headers: host ? { host } : {} }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
  });

describe('dashboard guards', () => {
  it('a foreign Host gets 403 for the page and the report; /healthz and /metrics answer any Host', async () => {
    expect((await get('/', 'evil.example:9410')).status).toBe(403);
    expect((await get('/api/report', 'evil.example:9410')).status).toBe(403);
    expect((await get('/healthz', 'grip-dashboard:9410')).status).toBe(200);
    expect((await get('/', `localhost:${dashboard.port}`)).status).toBe(200);
  });

  it('with ClickHouse unreachable, the report names the URL without its credentials', async () => {
    const r = await get('/api/report');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).clickhouse_url).toBe('http://127.0.0.1:1');
    expect(r.body).not.toMatch(/hunter2|admin:/);
    expect((await get('/healthz')).body).not.toMatch(/hunter2/);
  }, 30_000);
});
