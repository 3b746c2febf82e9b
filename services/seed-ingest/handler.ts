/**
 * seed-ingest: one input line (bytes) -> a seed message for grip.seeds, or a DLQ record saying what
 * was wrong. Pure. The checks themselves (UTF-8, JSON, field mapping, empty or oversized text,
 * text that tries to instruct the model) are core/seeds', shared with `grip run`; the id is the
 * content hash of the normalized problem and solution, so a seed sent twice is stored once.
 */
import { decodeRecord, DEFAULT_SEED_LIMITS, validateSeed, type FieldMapping } from '../../core/seeds/index.ts';
import type { Seed } from '../../schemas/generated/types.ts';
import { dlq, ok, type HandlerResult } from '../runtime/handler.ts';

/** A line longer than this is refused before it is parsed (the text limit is DEFAULT_SEED_LIMITS.maxChars). */
export const MAX_SEED_LINE_BYTES = 256 * 1024;

export interface IngestOptions {
  fields: FieldMapping;
  /** Where the seed came from: a file name, or "http". */
  source: string;
  /** Its position there, e.g. "line:12", used when the record has no id field. */
  position: string;
  now: number;
}

export function ingestSeed(bytes: Uint8Array, opts: IngestOptions): HandlerResult<Seed> {
  if (bytes.byteLength > MAX_SEED_LINE_BYTES) {
    return dlq('too_large', `the line has ${bytes.byteLength} bytes (limit ${MAX_SEED_LINE_BYTES}; problem + solution may have ${DEFAULT_SEED_LIMITS.maxChars} characters)`);
  }
  const decoded = decodeRecord(bytes);
  if (!decoded.ok) return dlq(decoded.reason, decoded.message);
  const check = validateSeed(decoded.record, opts.fields);
  if (!check.ok) return dlq(check.reason, check.message);
  return ok({
    seed_id: check.seed.seed_id,
    problem: check.seed.problem,
    solution: check.seed.solution,
    source: opts.source,
    source_id: check.seed.source_id ?? opts.position,
    ingested_at: opts.now,
  });
}

/** Splits a JSONL body into lines of bytes (LF or CRLF), with their 1-based line numbers; blank lines are skipped. */
export function splitLines(body: Buffer): Array<{ line: number; bytes: Buffer }> {
  const out: Array<{ line: number; bytes: Buffer }> = [];
  let start = 0;
  let line = 0;
  while (start <= body.length) {
    let end = body.indexOf(0x0a, start);
    if (end === -1) end = body.length;
    line++;
    let slice = body.subarray(start, end);
    if (slice.length > 0 && slice[slice.length - 1] === 0x0d) slice = slice.subarray(0, slice.length - 1);
    if (slice.some((b) => b !== 0x20 && b !== 0x09)) out.push({ line, bytes: slice });
    start = end + 1;
  }
  return out;
}
