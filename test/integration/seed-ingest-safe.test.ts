/**
 * seed-ingest as a process (`grip services run seed-ingest`, on a port of this test's own): a
 * 60 MiB body and 100 concurrent posts leave its memory bounded and /healthz answering 200; a
 * cross-origin text/plain post (what any web page can send) is refused with 403; off loopback
 * without GRIP_INGEST_TOKEN it refuses to start. The bodies are blank lines: parsed whole, they
 * publish nothing to the shared grip.seeds topic.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../services/runtime/config.ts';

const GRIP = path.join(REPO_ROOT, 'bin', 'grip.mjs');
const port = 9701 + ((process.pid + 5) % 10);
const base = `http://127.0.0.1:${port}`;
const env = { ...process.env, GRIP_STATE_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'grip-ingest-')), GRIP_SEED_INGEST_PORT: String(port) };
let child: ChildProcess;

const memory = (pid: number) => {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]) / 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
};

/** POSTs `total` bytes of blank lines, written in 1 MiB chunks as the server reads them. */
function postBlank(total: number, headers: Record<string, string> = { 'content-type': 'application/x-ndjson' }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/seeds`, { method: 'POST', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(1 << 20, '\n');
    let sent = 0;
    const write = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

async function healthzDuring<T>(work: Promise<T>): Promise<{ result: T; statuses: number[] }> {
  const statuses: number[] = [];
  let done = false;
  const polling = (async () => {
    while (!done) {
      statuses.push(await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5000) }).then((r) => r.status, () => 0));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const result = await work.finally(() => (done = true));
  await polling;
  return { result, statuses };
}

beforeAll(async () => {
  child = spawn(process.execPath, [GRIP, 'services', 'run', 'seed-ingest'], { env, stdio: 'ignore' });
  const t0 = Date.now();
  while (!(await fetch(`${base}/healthz`).then((r) => r.ok, () => false))) {
    if (Date.now() - t0 > 120_000) throw new Error('seed-ingest did not start');
    await new Promise((r) => setTimeout(r, 300));
  }
}, 150_000);
afterAll(() => {
  child?.kill('SIGTERM');
});

describe('seed-ingest under hostile or heavy posts (real process)', () => {
  it('a 60 MiB body: memory stays bounded (no whole-body buffer), /healthz 200 throughout', async () => {
    const before = memory(child.pid!);
    const { result, statuses } = await healthzDuring(postBlank(60 * 2 ** 20));
    const after = memory(child.pid!);
    process.stdout.write(`60 MiB body: RSS ${before.rss.toFixed(0)} -> ${after.rss.toFixed(0)} MiB, peak ${before.peak.toFixed(0)} -> ${after.peak.toFixed(0)} MiB\n`);
    expect(result).toBe(200);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(after.peak - before.peak).toBeLessThan(48);
  }, 120_000);

  it('100 concurrent posts: each answered (200 or 429), memory bounded, /healthz 200 throughout', async () => {
    const before = memory(child.pid!);
    const { result, statuses } = await healthzDuring(Promise.all(Array.from({ length: 100 }, () => postBlank(2 * 2 ** 20))));
    const after = memory(child.pid!);
    const counts = result.reduce<Record<number, number>>((c, s) => ({ ...c, [s]: (c[s] ?? 0) + 1 }), {});
    process.stdout.write(`100 posts of 2 MiB: ${JSON.stringify(counts)}; RSS ${before.rss.toFixed(0)} -> ${after.rss.toFixed(0)} MiB, peak ${before.peak.toFixed(0)} -> ${after.peak.toFixed(0)} MiB\n`);
    expect(result.every((s) => s === 200 || s === 429)).toBe(true);
    expect(counts[200]).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(after.peak - before.peak).toBeLessThan(64);
  }, 180_000);

  it('a cross-origin text/plain post -> 403', async () => {
    const res = await fetch(`${base}/seeds`, { method: 'POST', body: '\n', headers: { 'content-type': 'text/plain', origin: 'http://evil.example' } });
    expect(res.status).toBe(403);
  });

  it('bound off loopback without GRIP_INGEST_TOKEN, it refuses to start, naming the variable', () => {
    const r = spawnSync(process.execPath, [GRIP, 'services', 'run', 'seed-ingest'], { env: { ...env, GRIP_SERVICES_HOST: '0.0.0.0', GRIP_SEED_INGEST_PORT: String(port === 9710 ? 9709 : port + 1) }, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/GRIP_INGEST_TOKEN/);
  }, 90_000);
});
