/**
 * The dashboard service: one HTTP server on config.services.host : ports.dashboard (127.0.0.1:9410 by
 * default) serving
 *   /                  the page (public/index.html + app.js), charts drawn with ECharts
 *   /vendor/echarts.min.js  ECharts from node_modules (no CDN: the page works offline)
 *   /api/report        the figures as JSON ({status: 'ok', report} or {status: 'error', error}, 503)
 *   /metrics, /healthz as every service.
 * The report comes from services/analytics (the same code as `grip report --from clickhouse`),
 * computed at most once per `minReportIntervalMs` whatever the number of open pages, and never
 * twice at once. ClickHouse being down is a state the page shows, not a crash: every request tries
 * again, so the page recovers by itself when ClickHouse is back.
 */
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Counter, Gauge, Histogram, register } from 'prom-client';
import { createAnalytics, type AnalyticsOptions, type ClickHouseReport } from '../analytics/index.ts';
import { servicePortOf, type GripConfig } from '../runtime/config.ts';
import { hostAllowed, redactSecrets, redactUrl } from '../runtime/web-guard.ts';

const reportsTotal = new Counter({ name: 'grip_dashboard_reports_total', help: 'Reports computed for the page, by outcome (ok, error)', labelNames: ['outcome'] as const });
const reportSeconds = new Histogram({
  name: 'grip_dashboard_report_duration_seconds',
  help: 'Time to compute one report from ClickHouse',
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
});
const clickhouseUp = new Gauge({ name: 'grip_dashboard_clickhouse_up', help: '1 if the last report could read ClickHouse, else 0' });

const PUBLIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');
const ECHARTS_FILE = createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js');

/** The dashboard's default port. */
export const DASHBOARD_PORT = 9410;

export interface DashboardOptions {
  /** Port; default GRIP_DASHBOARD_PORT or DASHBOARD_PORT; 0 picks a free one (tests). */
  port?: number;
  host?: string;
  /** How often the page polls /api/report, ms (default 5000). */
  refreshMs?: number;
  /** Reuse a report younger than this for other requests, ms (default 2000). */
  minReportIntervalMs?: number;
  analytics?: AnalyticsOptions;
  log?: (line: string) => void;
}

export interface Dashboard {
  url: string;
  port: number;
  close(): Promise<void>;
}

type Snapshot = { status: 'ok'; report: ClickHouseReport; at: number } | { status: 'error'; error: string; kind: string; at: number };

export async function startDashboard(config: GripConfig, opts: DashboardOptions = {}): Promise<Dashboard> {
  const port = opts.port ?? servicePortOf(config, 'dashboard', DASHBOARD_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`dashboard port must be an integer in 0..65535, got ${port}`);
  const host = opts.host ?? config.services.host;
  const refreshMs = opts.refreshMs ?? 5000;
  const minInterval = opts.minReportIntervalMs ?? 2000;
  const log = opts.log ?? (() => {});
  // The contamination check reads every accepted problem: at most twice a minute is enough for a page.
  const analytics = createAnalytics(config, { contaminationTtlMs: 30_000, ...opts.analytics });
  const page = fs.readFileSync(path.join(PUBLIC_DIR, 'index.html'), 'utf8').replace('__REFRESH_MS__', String(refreshMs));
  const app = fs.readFileSync(path.join(PUBLIC_DIR, 'app.js'), 'utf8');
  const echarts = fs.readFileSync(ECHARTS_FILE);

  let last: Snapshot | undefined;
  let inFlight: Promise<Snapshot> | undefined;
  let lastError = '';

  function snapshot(): Promise<Snapshot> {
    if (last && Date.now() - last.at < minInterval) return Promise.resolve(last);
    inFlight ??= (async () => {
      const end = reportSeconds.startTimer();
      try {
        const report = await analytics.report();
        reportsTotal.inc({ outcome: 'ok' });
        clickhouseUp.set(1);
        if (lastError) log(`dashboard: reports work again (was: ${lastError})`);
        lastError = '';
        return (last = { status: 'ok', report, at: Date.now() });
      } catch (error) {
        reportsTotal.inc({ outcome: 'error' });
        const e = error as Error & { kind?: string };
        if (e?.kind === 'unreachable') clickhouseUp.set(0);
        const message = e?.message ?? String(error);
        if (message !== lastError) log(`dashboard: report failed: ${message}`);
        lastError = message;
        return (last = { status: 'error', error: message, kind: e?.kind ?? 'internal', at: Date.now() });
      } finally {
        end();
        inFlight = undefined;
      }
    })();
    return inFlight;
  }

  const send = (res: http.ServerResponse, status: number, type: string, body: string | Buffer, cache = 'no-store') =>
    res.writeHead(status, { 'content-type': type, 'cache-control': cache }).end(body);

  // What the page may show of ClickHouse: never its credentials (a password, or a URL holding one).
  const shownUrl = redactUrl(config.clickhouse.url);
  // The URL is shown (the banner names it), only without the credentials it may hold.
  const redact = (text: string) => redactSecrets(text.split(config.clickhouse.url).join(shownUrl), [config.clickhouse.password]);

  const server = http.createServer((req, res) => {
    const route = (req.url ?? '/').split('?')[0];
    // DNS rebinding: a page of evil.example resolving to 127.0.0.1 reaches us with Host: evil.example.
    // /healthz and /metrics hold nothing to steal, and Prometheus scrapes them by container name.
    if (route !== '/healthz' && route !== '/metrics' && !hostAllowed(req.headers.host, config.services.allowedHosts)) return void send(res, 403, 'text/plain', `Host ${JSON.stringify(req.headers.host ?? '')} is not one this dashboard answers to (GRIP_ALLOWED_HOSTS)\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    switch (route) {
      case '/':
      case '/index.html':
        return void send(res, 200, 'text/html; charset=utf-8', page);
      case '/app.js':
        return void send(res, 200, 'text/javascript; charset=utf-8', app);
      case '/vendor/echarts.min.js':
        return void send(res, 200, 'text/javascript; charset=utf-8', echarts, 'max-age=3600');
      case '/api/report':
        return void snapshot().then((s) =>
          s.status === 'ok'
            ? send(res, 200, 'application/json', JSON.stringify({ status: 'ok', report: s.report }))
            : send(res, 503, 'application/json', JSON.stringify({ status: 'error', kind: s.kind, error: redact(s.error), clickhouse_url: shownUrl })),
        );
      case '/favicon.ico':
        return void res.writeHead(204).end();
      case '/metrics':
        return void register
          .metrics()
          .then((text) => send(res, 200, register.contentType, text))
          .catch((error: Error) => send(res, 500, 'text/plain', `metrics failed: ${error.message}\n`));
      case '/healthz':
        // The service is healthy while it serves; ClickHouse's state is reported, not fatal.
        return void send(res, 200, 'application/json', JSON.stringify({ status: 'ok', clickhouse: last ? last.status : 'unknown', ...(last?.status === 'error' ? { error: redact(last.error) } : {}) }));
      default:
        return void send(res, 404, 'text/plain', 'not found: try /, /api/report, /metrics or /healthz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
  log(`dashboard: serving ${url} (ClickHouse ${shownUrl}, database ${config.clickhouse.database})`);
  return {
    url,
    port: bound,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
      await inFlight?.catch(() => {});
      await analytics.close();
    },
  };
}
