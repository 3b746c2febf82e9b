/**
 * Sampler state bytes: RNG state, per-relation counters, mode and pending fresh items (as KC ids, so
 * they survive a graph restore), and the yielded-key hashes sorted ascending. Deterministic: the
 * same state always encodes to the same bytes. Sweep positions are not stored: a sweep restarts
 * after import and skips what was already yielded, which yields the same sequence.
 *
 * Layout: "GRIPSMP" magic, format version byte, 4 x u32 RNG state, varint relation count, per
 * relation (name, varint count, u8 mode, varint misses, varint fresh pairs, id pairs), varint
 * yielded count, yielded hashes as (u32 high, u32 low), then a 4-byte FNV-1a checksum.
 */
import { ByteReader, ByteWriter } from '../graph/bytes.ts';
import { RELATIONS, type Relation } from './types.ts';

const MAGIC = 'GRIPSMP';
export const SAMPLER_STATE_VERSION = 1;
const MODES = ['random', 'sweep', 'exhausted'] as const;
export type RelationMode = (typeof MODES)[number];

export interface SamplerState {
  rng: [number, number, number, number];
  relations: { relation: Relation; count: number; mode: RelationMode; misses: number; fresh: [string, string][] }[];
  yielded: BigUint64Array;
}

export function encodeState(s: SamplerState): Uint8Array {
  const w = new ByteWriter();
  w.bytes(new TextEncoder().encode(MAGIC));
  w.u8(SAMPLER_STATE_VERSION);
  for (const x of s.rng) w.u32(x);
  w.varint(s.relations.length);
  for (const r of s.relations) {
    w.string(r.relation);
    w.varint(r.count);
    w.u8(MODES.indexOf(r.mode));
    w.varint(r.misses);
    w.varint(r.fresh.length);
    for (const [a, b] of r.fresh) {
      w.string(a);
      w.string(b);
    }
  }
  w.varint(s.yielded.length);
  for (const h of s.yielded) {
    w.u32(Number(h >> 32n));
    w.u32(Number(h & 0xffffffffn));
  }
  return w.finishWithChecksum();
}

export function decodeState(bytes: Uint8Array): SamplerState {
  const r = new ByteReader(bytes, 'importState', MAGIC, SAMPLER_STATE_VERSION);
  const rng: SamplerState['rng'] = [r.u32(), r.u32(), r.u32(), r.u32()];
  const relations: SamplerState['relations'] = [];
  const count = r.varint();
  for (let i = 0; i < count; i++) {
    const relation = r.string();
    if (!(RELATIONS as readonly string[]).includes(relation)) throw new Error(`importState: unknown relation "${relation}"`);
    const c = r.varint();
    const modeIndex = r.u8();
    const mode = MODES[modeIndex];
    if (mode === undefined) throw new Error(`importState: bad mode ${modeIndex} for ${relation}`);
    const misses = r.varint();
    const freshCount = r.varint();
    const fresh: [string, string][] = [];
    for (let j = 0; j < freshCount; j++) fresh.push([r.string(), r.string()]);
    relations.push({ relation: relation as Relation, count: c, mode, misses, fresh });
  }
  const n = r.varint();
  const yielded = new BigUint64Array(n);
  for (let i = 0; i < n; i++) yielded[i] = (BigInt(r.u32()) << 32n) | BigInt(r.u32());
  r.done();
  return { rng, relations, yielded };
}
