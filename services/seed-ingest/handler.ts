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
  /** The line's length when `bytes` holds only its start (a streamed line over the limit). */
  byteLength?: number;
}

export function ingestSeed(bytes: Uint8Array, opts: IngestOptions): HandlerResult<Seed> {
  const length = Math.max(bytes.byteLength, opts.byteLength ?? 0);
  if (length > MAX_SEED_LINE_BYTES) {
    return dlq('too_large', `the line has ${length} bytes (limit ${MAX_SEED_LINE_BYTES}; problem + solution may have ${DEFAULT_SEED_LIMITS.maxChars} characters)`);
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

/**
 * Splits a JSONL stream into lines as chunks arrive (LF or CRLF; blank lines skipped; 1-based line
 * numbers as splitLines). A line longer than MAX_SEED_LINE_BYTES keeps only its first
 * MAX_SEED_LINE_BYTES + 1 bytes (enough to refuse it as too large) and its real length: memory
 * stays bounded whatever the input.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private kept = 0;
  private length = 0;
  private line = 0;

  push(chunk: Buffer): Array<{ line: number; bytes: Buffer; byteLength: number }> {
    const out: Array<{ line: number; bytes: Buffer; byteLength: number }> = [];
    let start = 0;
    for (;;) {
      // A run of empty lines (a body of newlines) costs a byte compare each, not a search.
      while (this.length === 0 && start < chunk.length && chunk[start] === 0x0a) {
        this.line++;
        start++;
      }
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) {
        if (start < chunk.length) this.append(chunk.subarray(start));
        break;
      }
      this.append(chunk.subarray(start, nl));
      this.emit(out);
      start = nl + 1;
    }
    return out;
  }

  end(): Array<{ line: number; bytes: Buffer; byteLength: number }> {
    const out: Array<{ line: number; bytes: Buffer; byteLength: number }> = [];
    if (this.length > 0) this.emit(out);
    return out;
  }

  private append(part: Buffer): void {
    this.length += part.length;
    const room = MAX_SEED_LINE_BYTES + 1 - this.kept;
    if (room <= 0 || part.length === 0) return;
    const kept = part.subarray(0, room);
    this.parts.push(Buffer.from(kept)); // a copy: the chunk's memory is not held by a kept line
    this.kept += kept.length;
  }

  private emit(out: Array<{ line: number; bytes: Buffer; byteLength: number }>): void {
    this.line++;
    if (this.length === 0) return; // an empty line: nothing to copy or check
    let bytes = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    let byteLength = this.length;
    if (bytes.length > 0 && bytes.length === byteLength && bytes[bytes.length - 1] === 0x0d) {
      bytes = bytes.subarray(0, bytes.length - 1);
      byteLength--;
    }
    if (bytes.some((b) => b !== 0x20 && b !== 0x09 && b !== 0x0d)) out.push({ line: this.line, bytes, byteLength });
    this.parts = [];
    this.kept = 0;
    this.length = 0;
  }
}
