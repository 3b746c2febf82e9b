/**
 * The LLM answer cache of `grip run` (resume) and of every service: an on-disk store with an index
 * (disk-kv.ts), so opening it and looking an answer up cost the same at 1M answers as at 10, and
 * memory does not grow with it. Every answer is written as soon as it arrives: a process killed
 * with SIGKILL loses at most the answer being written, and the next start pays for no call twice.
 *
 * Given `<dir>/llm-cache.jsonl` (the file earlier versions appended to), the store is
 * `<dir>/llm-cache.data` + `<dir>/llm-cache.index`; an existing JSONL file is read once, line by
 * line, into the store and renamed `llm-cache.jsonl.migrated` (a crash during the migration repeats it).
 */
import fs from 'node:fs';
import { DiskKv } from './disk-kv.ts';
import type { CachedAnswer, LlmCache } from './llm.ts';

export class FileLlmCache implements LlmCache {
  private readonly kv: DiskKv;
  /** Lines of a migrated JSONL file that could not be read (a torn write from a killed run). */
  readonly skippedLines: number;

  constructor(readonly file: string) {
    this.kv = new DiskKv(file.replace(/\.jsonl$/, ''));
    this.skippedLines = fs.existsSync(file) ? this.migrate(file) : 0;
  }

  /** Answers in the cache of `file` (as given to the constructor), read while another process may be writing it. */
  static entriesIn(file: string): number {
    return DiskKv.countAt(file.replace(/\.jsonl$/, ''));
  }

  get size(): number {
    return this.kv.size;
  }

  get(key: string): CachedAnswer | undefined {
    const bytes = this.kv.get(key);
    return bytes ? (JSON.parse(bytes.toString('utf8')) as CachedAnswer) : undefined;
  }

  /** The first answer for a key wins: a cache never rewrites history. */
  set(key: string, value: CachedAnswer): void {
    if (this.kv.has(key)) return;
    const { content, model, promptTokens, completionTokens } = value;
    this.kv.put(key, Buffer.from(JSON.stringify({ content, model, promptTokens, completionTokens }), 'utf8'));
  }

  close(): void {
    this.kv.close();
  }

  private migrate(file: string): number {
    let skipped = 0;
    forEachLine(file, (line) => {
      try {
        const entry = JSON.parse(line) as { key: string } & CachedAnswer;
        if (typeof entry.key !== 'string') throw new Error('no key');
        this.set(entry.key, entry);
      } catch {
        skipped++;
      }
    });
    fs.renameSync(file, `${file}.migrated`);
    return skipped;
  }
}

/** Calls `onLine` for every non-empty line of a file, reading 1 MiB at a time (never the whole file). */
export function forEachLine(file: string, onLine: (line: string) => void): void {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let rest = Buffer.alloc(0);
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      let chunk = Buffer.concat([rest, buf.subarray(0, n)]);
      let nl: number;
      while ((nl = chunk.indexOf(0x0a)) !== -1) {
        if (nl > 0) onLine(chunk.subarray(0, nl).toString('utf8'));
        chunk = chunk.subarray(nl + 1);
      }
      rest = Buffer.from(chunk);
    }
    if (rest.length > 0) onLine(rest.toString('utf8'));
  } finally {
    fs.closeSync(fd);
  }
}
