/**
 * Reading the project's text inputs (seed files, benchmark sets, id sidecars) whether plain or
 * gzip-compressed: the repository ships its data as `.jsonl.gz` (data/README.md), and a user's own
 * files are usually plain. Compression is recognized by the gzip magic bytes, not the name, so a
 * renamed file still reads.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';

function isGzip(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(2);
    return fs.readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

/** A byte stream of the file's (decompressed) content. */
export function openText(file: string): Readable {
  const raw = fs.createReadStream(file);
  return isGzip(file) ? raw.pipe(zlib.createGunzip()) : raw;
}

/** The file's lines, decompressed when it is gzip. */
export function textLines(file: string): readline.Interface {
  return readline.createInterface({ input: openText(file), crlfDelay: Infinity });
}

/** The whole (decompressed) content. */
export function readTextBytes(file: string): Buffer {
  const bytes = fs.readFileSync(file);
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b ? zlib.gunzipSync(bytes) : bytes;
}
