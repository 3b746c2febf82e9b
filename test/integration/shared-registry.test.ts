/**
 * SharedKcRegistry on the real broker and schema registry (Avro, the registry_settings field
 * included), on a log topic of this run's own: two instances adding near-synonyms in different
 * orders at the same time agree on every KC id, a replica started afterwards rebuilds the same
 * registry, and an instance with other merge settings refuses to start, naming them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKcRegistry, type KcRegistryOptions } from '../../core/concepts/index.ts';
import { RegistrySettingsError, SharedKcRegistry } from '../../services/concept-extractor/shared-registry.ts';
import { connectSerde, type Serde } from '../../services/runtime/kafka/serde.ts';
import { ensureTopics } from '../../services/runtime/kafka/topics.ts';
import type { AdminPort } from '../../services/runtime/kafka/transport.ts';
import { cleanup, config, testSpec, transport } from './kafka-helpers.ts';
import { embedKcNames, KC_NAMES, sameConcept } from '../fixtures/kc-vectors.ts';

const run = Date.now();
const spec = testSpec('grip.kc-registry', `test.kc-registry.${run}`, 1);
const NAMES = KC_NAMES.slice(0, 8);
const synonymCheck = async (a: { name: string }, b: { name: string }) => sameConcept(a.name, b.name);

let admin: AdminPort;
let serde: Serde;
const running: SharedKcRegistry[] = [];
const producers: Array<ReturnType<typeof transport.producer>> = [];

beforeAll(async () => {
  admin = transport.admin();
  await ensureTopics(admin, [spec]);
  serde = await connectSerde({ url: config.registry.url, topics: [spec] });
});
afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  await Promise.all(producers.map((p) => p.close()));
  await cleanup(admin, [spec.topic, spec.dlq], [], [spec.topic]);
  await admin.close();
});

async function instance(options: KcRegistryOptions = {}): Promise<SharedKcRegistry> {
  const producer = transport.producer();
  producers.push(producer);
  const shared = new SharedKcRegistry(createKcRegistry({ embed: embedKcNames, synonymCheck, ...options }), {
    transport, serde, producer, embeddingsModel: 'test-embeddings', embed: embedKcNames, topic: spec.topic, readBackTimeoutMs: 20_000,
  });
  running.push(shared);
  await shared.start();
  return shared;
}
const idsOf = (s: SharedKcRegistry) => Object.fromEntries(NAMES.map((n) => [n, s.registry.idOf(n)]));

describe('SharedKcRegistry (real broker and registry)', () => {
  it('two instances sharing one log agree on every id; a later replica rebuilds the same registry; other settings refuse to start', async () => {
    const a = await instance();
    const b = await instance();
    const forward = NAMES.map((name) => ({ name }));
    const [fromA, fromB] = await Promise.all([a.addMany(forward), b.addMany([...forward].reverse())]);
    expect(idsOf(a)).toEqual(idsOf(b));
    expect(fromA.map((r) => r.id)).toEqual(NAMES.map((n) => a.registry.idOf(n)));
    expect(fromB.map((r) => r.id)).toEqual([...NAMES].reverse().map((n) => a.registry.idOf(n)));
    expect(a.registry.size).toBeLessThan(NAMES.length); // merges happened

    const replica = await instance();
    expect(replica.registry.exportState()).toEqual(a.registry.exportState());

    const other = instance({ sameThreshold: 0.95, seed: 3 });
    await expect(other).rejects.toThrow(RegistrySettingsError);
    await expect(other).rejects.toThrow(/sameThreshold: 0\.95 here vs 0\.9 in the log; seed: 3 here vs 1 in the log/);
  }, 120_000);
});
