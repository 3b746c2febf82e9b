/**
 * The /metrics (Prometheus text format, prom-client's default registry), /healthz and /livez server
 * every service runs. Binds 127.0.0.1 unless told otherwise: exposing it is a deployment decision.
 *
 * Alive vs ready: /livez is 200 while the service runs (restart it only when this fails); /healthz
 * is 200 only when it does its work (`ok`, or `standby`), else 503 with why: `waiting` on a
 * dependency that is down (which, since when), `degraded` when a dependency refuses its
 * configuration (the reason), `unhealthy` when it crashed or stops.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { register, type Registry } from 'prom-client';
import type { DependencyBoard } from './dependencies.ts';

export interface OpsServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  host?: string;
  /** Healthy unless this returns false, a report that is not ok, or throws; its detail is shown in the body. */
  health?: () => boolean | HealthReport | Promise<boolean | HealthReport>;
  registry?: Registry;
  /** A service's own routes (seed-ingest's POST /seeds), tried first; returns true when it answered. */
  routes?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

/** A health answer with a reason: `degraded` and `waiting` are alive but not doing their work. */
export interface HealthReport {
  /** standby: alive and ready to take over (a second instance of a one-instance stage). */
  status: 'ok' | 'standby' | 'waiting' | 'degraded' | 'unhealthy';
  reason?: string;
  /** What it waits on or what refuses it (`kafka`, `clickhouse`, `llm <url> <model>`...). */
  dependency?: string;
  /** Since when (ISO 8601). */
  since?: string;
}

/** A service's health: unhealthy when it crashed or is stopping, degraded when it names a problem. */
export function healthReport(healthy: boolean, problem: string | null): HealthReport {
  if (!healthy) return { status: 'unhealthy' };
  return problem ? { status: 'degraded', reason: problem } : { status: 'ok' };
}

/**
 * A running service's report with what the process's dependency board says: a refused
 * configuration makes it `degraded`, a dependency down `waiting` (the oldest problem first).
 */
export function withDependencies(report: HealthReport, board: DependencyBoard): HealthReport {
  if (report.status !== 'ok') return report;
  const problems = board.list();
  const refused = problems.find((p) => p.kind === 'configuration');
  const shown = refused ?? problems[0];
  if (!shown) return report;
  return { status: refused ? 'degraded' : 'waiting', dependency: shown.dependency, reason: shown.reason, since: new Date(shown.since).toISOString() };
}

const alive = (report: HealthReport) => report.status !== 'unhealthy';

export interface OpsServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new RangeError(`ops server port must be an integer in 0..65535, got ${options.port}`);
  }
  const registry = options.registry ?? register;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (options.routes?.(req, res)) return;
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text))
        .catch((error: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${error.message}\n`));
      return;
    }
    if (path === '/healthz' || path === '/livez') {
      Promise.resolve()
        .then(() => (options.health ? options.health() : true))
        .then(
          (answer) => {
            const report: HealthReport = typeof answer === 'boolean' ? { status: answer ? 'ok' : 'unhealthy' } : answer;
            const up = path === '/livez' ? alive(report) : report.status === 'ok' || report.status === 'standby';
            res.writeHead(up ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(report));
          },
          (error: Error) => res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'unhealthy', error: error.message })),
        );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /livez\n');
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host}:${port}`,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}
