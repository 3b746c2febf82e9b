/**
 * Faults of the model side, met by a running concept-extractor service (the retry protocol of
 * services/runtime/retry.ts, end to end):
 * - the model endpoint answers 401 (an expired key): no dead letter, nothing committed, /healthz
 *   `degraded` naming the endpoint; once it answers again the stage resumes by itself;
 * - the embeddings server is unreachable for 60 s: the service waits (`waiting` on embeddings), does
 *   not exit, and continues when it is back; every seed gets its concepts.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readRecord } from '../../cli/ops/manager.ts';
import { loadConfig } from '../../services/runtime/config.ts';
import { groupOf } from '../../services/runtime/stage.ts';
import { platformaticTransport } from '../../services/runtime/kafka/index.ts';
import { computeLag } from '../../services/runtime/kafka/transport.ts';
import { shortHash } from '../../core/util/hash.ts';
import { answerGripPrompt } from '../fixtures/grip-answers.ts';
import { startFakeOpenAI, type FakeOpenAI } from '../fixtures/openai-server.ts';
import { toggleableProxy } from '../integration/tcp-proxy.ts';
import { clickhouse, resetPipeline } from '../e2e/pipeline-helpers.ts';
import { assertOwnedStack, faultEnv, grip, scalar, seedsFile, topicRecords, up, waitFor, type FaultEnv } from './helpers.ts';

vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });

let refusing = false;
/** KC names never seen before (so the extractor must ask the embeddings server for them). */
let newKcNames = false;
let model: FakeOpenAI;
let f: FaultEnv;
let embeddings: ReturnType<typeof toggleableProxy>;
let ch: ReturnType<typeof clickhouse>;

const letters = (n: number) => Array.from({ length: 6 }, (_, i) => String.fromCharCode(97 + (Math.floor(n / 26 ** i) % 26))).join('');

function reply(body: any) {
  if (refusing) return { status: 401, error: 'Incorrect API key provided' };
  const answer = answerGripPrompt(body);
  if (!newKcNames || body.response_format?.json_schema?.name !== 'kc_extraction') return answer;
  const h = parseInt(shortHash(body.messages.at(-1).content, 8), 16);
  return { content: JSON.stringify({ kcs: [`${letters(h)} rule`, `${letters(h + 7)} method`] }) };
}

beforeAll(async () => {
  assertOwnedStack();
  model = await startFakeOpenAI({ reply });
  embeddings = toggleableProxy({ host: '127.0.0.1', port: Number(new URL(model.baseUrl).port) });
  const port = await embeddings.up();
  f = faultEnv('dependency-faults', model, ['seed: 5', 'concurrency: 3']);
  f.env.GRIP_EMBEDDINGS_BASE_URL = `http://127.0.0.1:${port}/v1`;
  f.config = loadConfig(f.env);
  await resetPipeline(f.config);
  ch = clickhouse(f.config);
  up(f, ['seed-ingest', 'concept-extractor', 'clickhouse-sink']);
});

afterAll(async () => {
  if (f) grip(['services', 'down'], f.env, 120_000);
  await embeddings?.down();
  await ch?.close();
  await model?.close();
});

async function health(): Promise<{ code: number; status?: string; dependency?: string; reason?: string; since?: string }> {
  const url = readRecord(f.config, 'concept-extractor')!.url;
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) });
    return { code: res.status, ...((await res.json()) as object) };
  } catch {
    return { code: 0 };
  }
}

async function extractorLag(): Promise<number> {
  const admin = platformaticTransport(f.config.kafka).admin();
  try {
    const [end, committed] = await Promise.all([admin.endOffsets(['grip.seeds']), admin.groupOffsets(groupOf({ name: 'concept-extractor' }), ['grip.seeds'])]);
    return Number(computeLag(end, committed).total);
  } finally {
    await admin.close();
  }
}

describe('model-side faults of a running concept-extractor', () => {
  it('a 401 from the model endpoint: no dead letters, stage degraded, resumes when fixed', async () => {
    const pid = readRecord(f.config, 'concept-extractor')!.pid;
    refusing = true;
    expect(grip(['seed', 'add', seedsFile(f.work, 6, 0)], f.env).status).toBe(0);
    await waitFor('concept-extractor to report degraded', async () => (await health()).status === 'degraded', 60_000, 500);
    const degraded = await health();
    expect(degraded).toMatchObject({ code: 503, status: 'degraded' });
    expect(degraded.dependency).toMatch(new RegExp(`^llm .*${model.baseUrl.replace(/[./]/g, '\\$&')}`));
    expect(degraded.reason).toMatch(/401/);
    await new Promise((r) => setTimeout(r, 5000));
    expect(await topicRecords(f.config, 'grip.seeds.dlq')).toBe(0);
    expect(await topicRecords(f.config, 'grip.concepts')).toBe(0);
    expect(await extractorLag()).toBe(6); // nothing committed

    refusing = false;
    await waitFor('concepts of every seed after the fix', async () => (await topicRecords(f.config, 'grip.concepts')) >= 6 && (await extractorLag()) === 0, 90_000, 500);
    await waitFor('concept-extractor healthy', async () => (await health()).code === 200, 30_000, 500);
    expect(await topicRecords(f.config, 'grip.seeds.dlq')).toBe(0);
    expect(readRecord(f.config, 'concept-extractor')!.pid).toBe(pid);
  });

  it('embeddings down for 60 s: concept-extractor waits (alive, waiting on embeddings) and continues', async () => {
    refusing = false;
    const pid = readRecord(f.config, 'concept-extractor')!.pid;
    await embeddings.down();
    newKcNames = true;
    expect(grip(['seed', 'add', seedsFile(f.work, 6, 6)], f.env).status).toBe(0);
    const downUntil = Date.now() + 60_000;
    let sawWaiting = false;
    while (Date.now() < downUntil) {
      const h = await health();
      expect(h.code, 'the service answers throughout').not.toBe(0);
      if (h.status === 'waiting' && h.dependency?.startsWith('embeddings')) sawWaiting = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
    expect(sawWaiting).toBe(true);
    expect(readRecord(f.config, 'concept-extractor')!.pid).toBe(pid);
    expect(await extractorLag()).toBeGreaterThan(0);

    await embeddings.up();
    await waitFor('every seed extracted after embeddings came back', async () => (await extractorLag()) === 0, 120_000, 1000);
    await waitFor('concept-extractor healthy', async () => (await health()).code === 200, 30_000, 500);
    expect(await topicRecords(f.config, 'grip.seeds.dlq')).toBe(0);
    const status = JSON.parse(grip(['services', 'status', '--json'], f.env).stdout);
    expect(status['concept-extractor']).toMatchObject({ pid, restarts: 0 });
    await waitFor('every seed stored with concepts', async () => (await scalar(ch, `SELECT count(DISTINCT seed_id) FROM ${f.db}.concepts FINAL`)) === 12, 60_000, 1000);
  });
});
