import { afterEach, describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { healthReport, startOpsServer, type OpsServer } from '../../../services/runtime/http.ts';

let server: OpsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('ops server', () => {
  it('serves /metrics from the registry and /healthz from the health check, on 127.0.0.1', async () => {
    const registry = new Registry();
    new Counter({ name: 'test_things_total', help: 'things', registers: [registry] }).inc(3);
    let healthy = true;
    server = await startOpsServer({ port: 0, registry, health: () => healthy });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('test_things_total 3');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    healthy = false;
    const sick = await fetch(`${server.url}/healthz`);
    expect(sick.status).toBe(503);
    expect(await sick.json()).toEqual({ status: 'unhealthy' });
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });

  it('a degraded service answers 503 with its reason (e.g. a sink whose inserts are stopped)', async () => {
    let problem: string | null = 'inserts into seeds stopped (retrying until it works): Code: 193, Wrong password for user default';
    server = await startOpsServer({ port: 0, registry: new Registry(), health: () => healthReport(true, problem) });
    const degraded = await fetch(`${server.url}/healthz`);
    expect(degraded.status).toBe(503);
    expect(await degraded.json()).toEqual({ status: 'degraded', reason: problem });
    problem = null;
    const fine = await fetch(`${server.url}/healthz`);
    expect([fine.status, await fine.json()]).toEqual([200, { status: 'ok' }]);
    expect(healthReport(false, 'anything')).toEqual({ status: 'unhealthy' });
  });

  it('rejects a bad port clearly', async () => {
    await expect(startOpsServer({ port: 70000 })).rejects.toThrow(/port must be an integer in 0..65535, got 70000/);
  });
});
