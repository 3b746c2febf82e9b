/**
 * Hashing and canonical serialization: the basis of every deterministic id in the project.
 * node:crypto is a pure computation (no I/O), so the core library may use it.
 */
import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level, so equal values always serialize to equal bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value as object).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** Hex SHA-256 of a string or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Short content hash (first `length` hex chars of SHA-256), for ids that people read. */
export function shortHash(data: string | Uint8Array, length = 16): string {
  return sha256Hex(data).slice(0, length);
}

/**
 * Deterministic id of a stage's work on an input: hash(input) + stage + prompt version.
 * The same id keys the LLM response cache and the ClickHouse ReplacingMergeTree row, so a
 * redelivered message neither pays for a model call twice nor lands twice.
 */
export function deterministicId(stage: string, promptVersion: string, input: unknown): string {
  return `${stage}-${shortHash(`${stage}\u0000${promptVersion}\u0000${canonicalJson(input)}`, 24)}`;
}
