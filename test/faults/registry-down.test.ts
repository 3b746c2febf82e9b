/**
 * Fault: the schema registry unreachable for 20 s while concept-graph rebuilds its state (issue 10:
 * a log reader skipped records it could not decode, even when the registry was only briefly away,
 * and the instance stayed divergent). concept-graph first runs on part of the seeds, is stopped,
 * more seeds are extracted, and it starts again behind a TCP proxy to the registry that refuses
 * every connection for 20 s (the registry is needed at start, to register and resolve the schemas
 * its rebuild decodes with). It must wait, not exit, then rebuild from every record of grip.concepts and
 * grip.pairs: no combination emitted twice (one that was skipped in the rebuild would be sampled
 * again), the max_combinations budget kept, every group at lag 0, and every invariant.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Combination } from '../../schemas/generated/types.ts';
import { connectSerde, platformaticTransport, readLog } from '../../services/runtime/kafka/index.ts';
import { expectCombinationBudget, expectInvariants, faultScenario, grip, healthy, PORT_BASE, seedsFile, startInstance, stopInstance, up, waitFor, waitUntilIdle } from './helpers.ts';

const MAX_COMBINATIONS = 12;
const GRAPH_PORT = PORT_BASE + 15;
const s = faultScenario('registry', ['seed: 5', 'concurrency: 2', 'services:', '  combinations_per_seed: 3', `  max_combinations: ${MAX_COMBINATIONS}`]);

/** A TCP proxy to the registry that can be cut (every connection refused, open ones dropped). */
async function registryProxy(target: URL) {
  let down = false;
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (down) return void client.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    open.add(client).add(upstream);
    const drop = () => { client.destroy(); upstream.destroy(); open.delete(client); open.delete(upstream); };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target.href);
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.href.replace(/\/$/, ''),
    cut() { down = true; for (const s of open) s.destroy(); },
    restore() { down = false; },
    close: () => new Promise<void>((resolve) => { for (const s of open) s.destroy(); server.close(() => resolve()); }),
  };
}

async function emittedCombinations(): Promise<Combination[]> {
  const out: Combination[] = [];
  const serde = await connectSerde({ url: s.f.config.registry.url });
  await (await readLog<Combination>({ transport: platformaticTransport(s.f.config.kafka), serde, topic: 'grip.pairs', name: 'faults-registry-down', onValue: (c) => void out.push(c) })).done;
  return out;
}

describe('the schema registry down for 20 s while concept-graph rebuilds', () => {
  it('waits, then rebuilds from every record: no combination emitted twice', async () => {
    const { f, ch, instances } = s;
    const proxy = await registryProxy(new URL(f.config.registry.url));
    try {
      up(f, ['seed-ingest', 'concept-extractor', 'clickhouse-sink']);
      const first = startInstance(f, 'concept-graph', 'graph-1', GRAPH_PORT);
      instances.push(first);
      await waitFor('concept-graph healthy', () => healthy(GRAPH_PORT), 120_000, 500);
      expect(grip(['seed', 'add', seedsFile(f.work, 4)], f.env).status).toBe(0);
      await waitUntilIdle(f.config, 180_000, ['seed-ingest', 'concept-extractor', 'concept-graph', 'clickhouse-sink']);
      const before = await emittedCombinations();
      expect(before.length).toBeGreaterThan(0);
      await stopInstance(first);

      expect(grip(['seed', 'add', seedsFile(f.work, 4, 4)], f.env).status).toBe(0);
      await waitUntilIdle(f.config, 180_000, ['seed-ingest', 'concept-extractor', 'clickhouse-sink']);
      proxy.cut();
      const second = startInstance(f, 'concept-graph', 'graph-2', GRAPH_PORT, { SCHEMA_REGISTRY_URL: proxy.url });
      instances.push(second);
      await new Promise((r) => setTimeout(r, 20_000));
      expect(second.child.exitCode, `concept-graph gave up while the registry was away:\n${second.log().slice(-2000)}`).toBeNull();
      proxy.restore();

      await waitUntilIdle(f.config, 180_000, ['seed-ingest', 'concept-extractor', 'concept-graph', 'clickhouse-sink']);
      const after = await emittedCombinations();
      const keys = after.map((c) => c.key);
      expect(keys.length - new Set(keys).size, 'combinations emitted twice').toBe(0);
      expect(after.length).toBeGreaterThanOrEqual(before.length);
      expect(after.length).toBeLessThanOrEqual(MAX_COMBINATIONS);
      // 8 seeds x 3 capped at MAX_COMBINATIONS: exactly 12 (the graph supplies them), across the restart.
      await expectCombinationBudget(f);
      await expectInvariants(ch, f);
    } finally {
      await proxy.close();
    }
  });
});
