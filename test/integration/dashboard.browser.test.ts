/**
 * The dashboard page in headless Chromium (Debian's package, driven by playwright-core): against a
 * throwaway database filled with synthetic pipeline data every chart renders with data (ECharts
 * series non-empty, canvas painted) and a screenshot is written to test/artifacts/dashboard.png;
 * the page refreshes while new data arrives; an empty database shows "no data yet" in every chart,
 * not an error; with ClickHouse unreachable the page shows a banner naming the URL, the server keeps
 * serving, and the page recovers by itself when ClickHouse is reachable again (a TCP proxy in front
 * of ClickHouse, closed then opened). Chromium is installed by ensureChromium() when missing.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createClient } from '@clickhouse/client';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNgramIndex, type BenchmarkRecord } from '../../core/decontam/index.ts';
import { ClickHouseWriter } from '../../services/clickhouse-sink/index.ts';
import { migrate } from '../../services/clickhouse-sink/migrate.ts';
import { startDashboard, type Dashboard } from '../../services/dashboard/server.ts';
import { loadConfig, REPO_ROOT, type GripConfig } from '../../services/runtime/config.ts';
import { CHROMIUM_ARGS, ensureChromium } from '../setup/chromium.ts';
import { BASE_MS, syntheticData, writeSynthetic } from '../unit/analytics/synthetic.ts';

const ARTIFACTS = path.join(REPO_ROOT, 'test', 'artifacts');
const database = `grip_test_dash_${Date.now()}_${process.pid}`;
const emptyDatabase = `${database}_empty`;
const config = loadConfig({ ...process.env, CLICKHOUSE_DATABASE: database });
const admin = createClient({ url: config.clickhouse.url, username: config.clickhouse.username, password: config.clickhouse.password });
const BENCHMARKS: BenchmarkRecord[] = [{ id: 'b1', source: 'bench', text: 'A fair die is rolled four times what is the probability that every roll shows at least three' }];
const index = createNgramIndex(BENCHMARKS);
const PLANTED = ['A fair die is rolled four times. What is the probability that every roll shows at least three? Give a fraction.'];
// Deterministic vectors: the page test needs figures, not a model (the CLI test uses the real endpoint).
const embedder = {
  embed: async (texts: string[]) =>
    texts.map((t) => {
      const v = new Float32Array(16).fill(1);
      for (let i = 0; i < t.length; i++) v[t.charCodeAt(i) % 16]! += 1;
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm);
    }),
};
const CHARTS = ['novelty', 'acceptance', 'kc-coverage', 'similarity', 'contamination', 'throughput', 'cost', 'dlq', 'checks'];

let browser: Browser;
const open: Array<{ close(): Promise<void> }> = [];

/** Closes what earlier tests opened: metrics are per process, so one dashboard at a time. */
async function closeAll() {
  for (const o of open.splice(0).reverse()) await o.close();
}

async function dashboardFor(cfg: GripConfig): Promise<Dashboard> {
  const d = await startDashboard(cfg, { port: 0, refreshMs: 1000, minReportIntervalMs: 300, analytics: { embedder, benchmarks: BENCHMARKS } });
  open.push(d);
  return d;
}

async function newPage(url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  open.push({ close: async () => void (await page.close(), expect(errors, 'no script errors on the page').toEqual([])) });
  await page.goto(url);
  return page;
}

interface ChartState {
  chart: string;
  state: string;
  points: number;
  message: string;
  painted: number;
  values: number;
}

/** Runs in the page (plain JS: the project compiles without DOM types). */
const CHART_STATES = `[...document.querySelectorAll('.chart')].map((el) => {
  const canvas = el.querySelector('canvas');
  let painted = 0;
  if (canvas) {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  }
  // The ECharts instance's own view of the data: non-null values over every series.
  const chart = window.echarts.getInstanceByDom(el);
  const values = ((chart && chart.getOption().series) || []).reduce((n, s) => n + (s.data || []).filter((d) => d !== null && d !== undefined).length, 0);
  return { chart: el.dataset.chart, state: el.dataset.state, points: Number(el.dataset.points), message: el.dataset.message || '', painted, values };
})`;
const chartStates = (page: Page) => page.evaluate(CHART_STATES) as Promise<ChartState[]>;

beforeAll(async () => {
  ensureChromium();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  await migrate(config.clickhouse);
  await migrate({ ...config.clickhouse, database: emptyDatabase });
  const writer = new ClickHouseWriter({ clickhouse: config.clickhouse, maxBatchWaitMs: 20 });
  try {
    await writeSynthetic(writer, syntheticData({ planted: PLANTED, overlapOf: (p) => index.check(p).longestOverlap }));
  } finally {
    await writer.close();
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
}, 900_000);

afterAll(async () => {
  await closeAll().catch(() => {});
  await browser?.close();
  await admin.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await admin.command({ query: `DROP DATABASE IF EXISTS ${emptyDatabase}` });
  await admin.close();
});

describe('dashboard page (headless Chromium)', () => {
  it('renders every chart with data, writes a screenshot, and refreshes as new data arrives', async () => {
    await closeAll();
    const dashboard = await dashboardFor(config);
    const page = await newPage(dashboard.url);
    await page.waitForFunction("document.body.dataset.status === 'ok'", null, { timeout: 60_000 });
    const states = await chartStates(page);
    expect(states.map((s) => s.chart)).toEqual(CHARTS);
    for (const s of states) {
      expect(s.state, `${s.chart} state`).toBe('data');
      expect(s.points, `${s.chart} points`).toBeGreaterThan(0);
      expect(s.values, `${s.chart} series values`).toBeGreaterThan(0);
      expect(s.painted, `${s.chart} canvas painted`).toBeGreaterThan(5000);
    }
    expect(await page.isHidden('#banner')).toBe(true);
    expect(await page.textContent('#tiles')).toMatch(/Novelty rate\s*\d+\.\d%/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(fs.statSync(path.join(ARTIFACTS, 'dashboard.png')).size).toBeGreaterThan(20_000);

    // More combinations arrive an hour later: the page picks them up on its own.
    const before = states.find((s) => s.chart === 'novelty')!.points;
    const later = syntheticData({ seed: 99, combos: 12 }).pairs.map((p, i) => ({ ...p, combo_id: `combo-late-${i}`, created_at: BASE_MS + 3_600_000 + i * 1000 }));
    const writer = new ClickHouseWriter({ clickhouse: config.clickhouse, maxBatchWaitMs: 20 });
    await writeSynthetic(writer, { seeds: [], concepts: [], pairs: later, candidates: [], verdicts: [], deadLetters: [] });
    await writer.close();
    await page.waitForFunction(`Number(document.querySelector('#chart-novelty').dataset.points) > ${before}`, null, { timeout: 30_000 });
  });

  it('an empty database shows "no data yet" in the charts, not an error', async () => {
    await closeAll();
    const dashboard = await dashboardFor({ ...config, clickhouse: { ...config.clickhouse, database: emptyDatabase } });
    const page = await newPage(dashboard.url);
    await page.waitForFunction("document.body.dataset.status === 'ok'", null, { timeout: 60_000 });
    const states = await chartStates(page);
    for (const s of states) {
      expect(s.state, `${s.chart} state`).toBe('empty');
      expect(s.message, `${s.chart} message`).toBe(s.chart === 'dlq' ? 'no dead letters yet' : 'no data yet');
    }
    expect(await page.isHidden('#banner')).toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-empty.png'), fullPage: true });
  });

  it('ClickHouse unreachable: a banner naming the URL, the server keeps serving, and the page recovers', async () => {
    await closeAll();
    // A port nobody listens on, for now; later a proxy to the real ClickHouse opens on it.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const downUrl = `http://127.0.0.1:${port}`;
    const dashboard = await dashboardFor({ ...config, clickhouse: { ...config.clickhouse, url: downUrl } });
    const page = await newPage(dashboard.url);
    await page.waitForFunction("document.body.dataset.status === 'error'", null, { timeout: 60_000 });
    expect(await page.textContent('#banner')).toContain(`ClickHouse unreachable at ${downUrl}`);
    expect(await page.isVisible('#banner')).toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-clickhouse-down.png'), fullPage: true });
    const health = await fetch(`${dashboard.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', clickhouse: 'error' });
    expect(await (await fetch(`${dashboard.url}/metrics`)).text()).toMatch(/grip_dashboard_clickhouse_up 0/);

    const target = new URL(config.clickhouse.url);
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 80), target.hostname);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r));
    // Keep-alive connections from the dashboard's client would hold close() open: end them.
    open.push({ close: () => new Promise<void>((r) => (proxy.close(() => r()), sockets.forEach((x) => x.destroy()))) });
    await page.waitForFunction("document.body.dataset.status === 'ok'", null, { timeout: 60_000 });
    expect(await page.isHidden('#banner')).toBe(true);
    expect((await chartStates(page)).every((s) => s.state === 'data')).toBe(true);
    expect(await (await fetch(`${dashboard.url}/metrics`)).text()).toMatch(/grip_dashboard_clickhouse_up 1/);
  });
});
