/**
 * The benchmark's model endpoint: the fake OpenAI-compatible server (fixed latency, a slot cap with
 * a queue, schema-valid answers to every GRIP prompt) in a child process of its own, so its event
 * loop does not compete with the pipeline's for the same thread, as a real model server would not.
 * The child reports its address and, when asked, its counters over the IPC channel, and exits when
 * the parent goes away.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface EndpointStats {
  requests: number;
  maxInFlight: number;
  busyMs: number;
  /** 429s for a full queue, and 5xx on purpose. */
  rejected: number;
  failed: number;
}

/** The fake server's behaviour (test/fixtures/openai-server.ts options). */
export interface EndpointShape {
  latencyMs: number;
  slots: number;
  queueBound?: number;
  retryAfterS?: number;
  errorRate?: number;
}

export interface BenchEndpoint {
  baseUrl: string;
  stats(): Promise<EndpointStats>;
  stop(): Promise<void>;
}

type ChildMessage = { kind: 'ready'; baseUrl: string } | ({ kind: 'stats' } & EndpointStats) | { kind: 'error'; message: string };

export async function spawnEndpoint(shape: EndpointShape): Promise<BenchEndpoint> {
  const child = fork(fileURLToPath(new URL('./endpoint-process.ts', import.meta.url)), [JSON.stringify(shape)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`fake endpoint exited with ${code} before it was ready`));
    child.once('exit', onExit);
    child.once('message', (m: ChildMessage) => {
      child.off('exit', onExit);
      if (m.kind === 'ready') resolve(m.baseUrl);
      else reject(new Error(`fake endpoint failed to start: ${m.kind === 'error' ? m.message : m.kind}`));
    });
  });
  return { baseUrl, stats: () => askStats(child), stop: () => stopChild(child) };
}

function askStats(child: ChildProcess): Promise<EndpointStats> {
  return new Promise((resolve) => {
    const onMessage = (m: ChildMessage) => {
      if (m.kind !== 'stats') return;
      child.off('message', onMessage);
      resolve({ requests: m.requests, maxInFlight: m.maxInFlight, busyMs: m.busyMs, rejected: m.rejected, failed: m.failed });
    };
    child.on('message', onMessage);
    child.send('stats');
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
