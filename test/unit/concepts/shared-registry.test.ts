/**
 * SharedKcRegistry (issue 10): instances sharing one grip.kc-registry log agree on every KC id,
 * whatever order they add names in and however their decisions interleave; an instance whose
 * registry settings differ from the log's refuses to start, naming each differing setting.
 * The log is the in-memory broker of test/unit/kafka/fakes.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createKcRegistry, type KcRegistryOptions } from '../../../core/concepts/index.ts';
import { RegistrySettingsError, SharedKcRegistry, KC_REGISTRY_TOPIC } from '../../../services/concept-extractor/shared-registry.ts';
import type { Serde } from '../../../services/runtime/kafka/serde.ts';
import { ConfigurationError } from '../../../services/runtime/errors.ts';
import { MemoryLog } from '../kafka/fakes.ts';
import { embedKcNames, KC_NAMES, sameConcept } from '../../fixtures/kc-vectors.ts';

/** JSON with Buffers kept as Buffers (the entry's vector), standing in for Avro. */
const serde: Serde = {
  schemaId: () => 1,
  async encode(_topic, value) {
    return Buffer.from(JSON.stringify(value, (_k, v) => (v && v.type === 'Buffer' && Array.isArray(v.data) ? { $b64: Buffer.from(v.data).toString('base64') } : v)));
  },
  async decode(_topic, bytes) {
    return JSON.parse(bytes!.toString('utf8'), (_k, v) => (v && typeof v.$b64 === 'string' ? Buffer.from(v.$b64, 'base64') : v));
  },
  keyOf: () => Buffer.from('k'),
};

const NAMES = KC_NAMES;
const embed = embedKcNames;
/** The synonym check: slow, so that decisions of two instances interleave. */
const synonymCheck = async (a: { name: string }, b: { name: string }) => {
  await new Promise((r) => setTimeout(r, 1 + (a.name.length % 3)));
  return sameConcept(a.name, b.name);
};

const running: SharedKcRegistry[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

async function instance(broker: MemoryLog, options: KcRegistryOptions = {}): Promise<SharedKcRegistry> {
  const registry = createKcRegistry({ embed, synonymCheck, ...options });
  const shared = new SharedKcRegistry(registry, { transport: broker, serde, producer: broker.producer(), embeddingsModel: 'fake-embeddings', embed, readBackTimeoutMs: 5_000 });
  running.push(shared);
  await shared.start();
  return shared;
}

const idsOf = (shared: SharedKcRegistry) => Object.fromEntries(NAMES.map((n) => [n, shared.registry.idOf(n)]));

describe('SharedKcRegistry', () => {
  it('two instances adding the same names in different orders at the same time agree on every id, and so does a replica rebuilt later', async () => {
    for (let round = 0; round < 3; round++) {
      const broker = new MemoryLog();
      const a = await instance(broker);
      const b = await instance(broker);
      const forward = NAMES.map((name) => ({ name }));
      const backward = [...forward].reverse();
      const rotated = [...forward.slice(round * 4), ...forward.slice(0, round * 4)];
      const [fromA, fromB] = await Promise.all([
        Promise.all([a.addMany(forward.slice(0, 6)), a.addMany(forward.slice(6))]).then((r) => r.flat()),
        Promise.all([b.addMany(backward.slice(0, 6)), b.addMany(rotated)]).then((r) => r.flat()),
      ]);
      // Each instance's answers are the ids of the shared registry.
      fromA.forEach((r, i) => expect(r.id).toBe(a.registry.idOf(forward[i].name)));
      expect(idsOf(a)).toEqual(idsOf(b));
      expect(a.registry.exportState()).toEqual(b.registry.exportState());
      expect(fromB.map((r) => r.id)).toEqual([...backward.slice(0, 6), ...rotated].map((n) => a.registry.idOf(n.name)));

      const later = await instance(broker);
      expect(idsOf(later)).toEqual(idsOf(a));
      expect(later.registry.exportState()).toEqual(a.registry.exportState());
      // Merges happened (the test is about merging, not about every name being new).
      expect(a.registry.size).toBeLessThan(NAMES.length);
      await Promise.all(running.splice(0).map((r) => r.stop()));
    }
  });

  for (const [setting, options] of [
    ['sameThreshold', { sameThreshold: 0.95 }],
    ['synonymThreshold', { synonymThreshold: 0.6 }],
    ['maxSynonymChecks', { maxSynonymChecks: 2 }],
    ['seed', { seed: 7 }],
    ['search', { search: 'exact' }],
  ] as Array<[string, KcRegistryOptions]>) {
    it(`an instance with another ${setting} than the log refuses to start, naming it`, async () => {
      const broker = new MemoryLog();
      const first = await instance(broker);
      await first.addMany(NAMES.slice(0, 4).map((name) => ({ name })));
      const started = instance(broker, options);
      await expect(started).rejects.toThrow(RegistrySettingsError);
      await expect(started).rejects.toThrow(new RegExp(`${setting}: .* here vs .* in the log`));
    });
  }

  it('an instance whose settings differ from the first entry stops following; replicas skip its entries alike', async () => {
    const broker = new MemoryLog();
    const a = await instance(broker);
    const odd = await instance(broker, { sameThreshold: 0.95 }); // started on the empty log: nothing to compare yet
    const oddFollowing = odd.following;
    oddFollowing.catch(() => undefined);
    await a.addMany([{ name: 'Pythagorean theorem' }]);
    await expect(oddFollowing).rejects.toThrow(/sameThreshold/);
    // An entry written with other settings (the odd instance proposing before it saw the first entry).
    const entry = { entry_id: 'kcr-odd', name: 'Law of cosines', key: 'law of cosine', vector: Buffer.from(new Float32Array([0, 0, 0, 1]).buffer), embeddings_model: 'fake-embeddings', registry_settings: JSON.stringify({ sameThreshold: 0.95 }), asked: [], proposer: 'odd', proposed_at: 0 };
    broker.append({ topic: KC_REGISTRY_TOPIC, key: null, value: await serde.encode(KC_REGISTRY_TOPIC, entry) });
    await a.addMany([{ name: 'Distance formula' }]);
    const replica = await instance(broker);
    expect(a.skippedOtherSettings).toBe(1);
    expect(replica.skippedOtherSettings).toBe(1);
    expect(a.registry.idOf('Law of cosines')).toBeUndefined();
    expect(replica.registry.exportState()).toEqual(a.registry.exportState());
  });
});

describe('SharedKcRegistry: vectors of another dimension under the same model name', () => {
  /** The same model name served by another server: vectors of another length. */
  const shorter = async (names: string[]) => names.map((_, i) => Array.from({ length: 8 }, (_, k) => 1 + ((i + k) % 3)));

  it('an entry with another dimension in the log is refused at that entry, by every replica, with both dimensions; the rest applies', async () => {
    const broker = new MemoryLog();
    const a = await instance(broker);
    await a.addMany(NAMES.slice(0, 4).map((name) => ({ name })));
    const dim = a.registry.dim!;
    // another instance, on another embeddings server, wrote an entry before this check existed
    const entry = { entry_id: 'kcr-other-server', name: 'a name from another server', key: 'a name from another server', vector: Buffer.from(new Float32Array(8).fill(0.5).buffer), embeddings_model: 'fake-embeddings', registry_settings: '', asked: [], proposer: 'elsewhere:1', proposed_at: 0 };
    await broker.producer().send([{ topic: KC_REGISTRY_TOPIC, key: Buffer.from(entry.key), value: await serde.encode(KC_REGISTRY_TOPIC, entry) }]);
    await a.addMany(NAMES.slice(4, 8).map((name) => ({ name })));
    const errors: Array<Record<string, unknown>> = [];
    const registry = createKcRegistry({ embed, synonymCheck });
    const replica = new SharedKcRegistry(registry, { transport: broker, serde, producer: broker.producer(), embeddingsModel: 'fake-embeddings', embed, log: (_l, _m, f) => void errors.push(f) });
    running.push(replica);
    await replica.start(); // no throw: a replica that threw here would do so on every restart
    expect(replica.skippedOtherDimension).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ embeddings_model: 'fake-embeddings', entry_dimension: 8, registry_dimension: dim, entry_id: 'kcr-other-server' });
    expect(String(errors[0]!.detail)).toMatch(new RegExp(`fake-embeddings gave a 8-dimension vector, but the registry in grip.kc-registry holds ${dim}-dimension`));
    expect(replica.registry.exportState()).toEqual(a.registry.exportState());
    expect(replica.registry.idOf('a name from another server')).toBeUndefined();
  });

  it('an instance whose server gives another dimension refuses to propose: a configuration error naming both dimensions, nothing written', async () => {
    const broker = new MemoryLog();
    const a = await instance(broker);
    await a.addMany(NAMES.slice(0, 4).map((name) => ({ name })));
    const entries = broker.records(KC_REGISTRY_TOPIC).length;
    const registry = createKcRegistry({ embed: shorter, synonymCheck });
    const other = new SharedKcRegistry(registry, { transport: broker, serde, producer: broker.producer(), embeddingsModel: 'fake-embeddings', embed: shorter });
    running.push(other);
    await other.start();
    const refused = await other.addMany([{ name: 'a concept no one has named before' }]).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigurationError);
    expect(String((refused as Error).message)).toMatch(new RegExp(`8-dimension vector, but the registry in grip.kc-registry holds ${a.registry.dim}-dimension`));
    expect(broker.records(KC_REGISTRY_TOPIC)).toHaveLength(entries);
  });
});

describe('SharedKcRegistry checkpoint', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'grip-kcr-ckpt-'));
  async function withCheckpoints(broker: MemoryLog, dir: string, logs: string[] = [], embeddingsModel = 'fake-embeddings'): Promise<SharedKcRegistry> {
    const shared = new SharedKcRegistry(createKcRegistry({ embed, synonymCheck }), { transport: broker, serde, producer: broker.producer(), embeddingsModel, embed, checkpoints: { dir }, log: (_l, m, f) => void logs.push(`${m} ${JSON.stringify(f)}`) });
    running.push(shared);
    await shared.start();
    return shared;
  }

  it('a start reads the checkpoint and only the entries after it, and reaches the registry a replica of the whole log reaches', async () => {
    const broker = new MemoryLog();
    const dir = tmp();
    const a = await withCheckpoints(broker, dir);
    await a.addMany(NAMES.slice(0, 10).map((name) => ({ name })));
    await a.stop(); // writes the checkpoint
    running.splice(running.indexOf(a), 1);
    const atCheckpoint = broker.records(KC_REGISTRY_TOPIC).length;
    const b = await instance(broker); // another instance, no checkpoint, adds more
    await b.addMany(NAMES.slice(10).map((name) => ({ name })));
    const total = broker.records(KC_REGISTRY_TOPIC).length;
    expect(total).toBeGreaterThan(atCheckpoint);

    const restarted = await withCheckpoints(broker, dir);
    expect(restarted.restoredFrom?.entries).toBeGreaterThan(0);
    expect(restarted.entriesRead).toBe(total - atCheckpoint);
    const whole = await instance(broker);
    expect(restarted.registry.exportState()).toEqual(whole.registry.exportState());
    expect(restarted.entriesApplied).toBe(whole.entriesApplied);
    // and it goes on agreeing: a new name through the restarted instance
    const [added] = await restarted.addMany([{ name: 'a concept only the restarted instance saw' }].map((n) => ({ ...n, embedding: Array.from({ length: a.registry.dim! }, (_, k) => (k % 5) - 2) })));
    await until(() => whole.registry.idOf('a concept only the restarted instance saw') === added!.id);
  });

  it('a damaged checkpoint, or one of another embeddings model, is ignored with its reason; the log is read whole', async () => {
    const broker = new MemoryLog();
    const dir = tmp();
    const a = await withCheckpoints(broker, dir);
    await a.addMany(NAMES.slice(0, 10).map((name) => ({ name })));
    await a.stop();
    running.splice(running.indexOf(a), 1);
    const file = path.join(dir, 'kc-registry.checkpoint');
    const whole = fs.readFileSync(file);
    fs.writeFileSync(file, whole.subarray(0, whole.length - 5));
    const logs: string[] = [];
    const r = await withCheckpoints(broker, dir, logs);
    expect(r.restoredFrom).toBeUndefined();
    expect(r.entriesRead).toBe(broker.records(KC_REGISTRY_TOPIC).length);
    expect(logs.some((l) => l.startsWith('KC registry checkpoint not used') && l.includes('truncated or corrupted'))).toBe(true);
    expect(r.registry.exportState()).toEqual(a.registry.exportState());
    await r.stop(); // a good checkpoint again
    running.splice(running.indexOf(r), 1);
    const otherModel: string[] = [];
    const o = await withCheckpoints(broker, dir, otherModel, 'another-embeddings-model');
    expect(o.restoredFrom).toBeUndefined();
    expect(otherModel.some((l) => l.includes('other settings'))).toBe(true);
  });
});

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
