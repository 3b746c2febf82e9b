/**
 * The LLM answer cache as it was before the on-disk store (main until December 2026): one
 * append-only JSONL file read whole into memory at start. Kept only as the baseline of
 * bench/llm-cache.bench.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CachedAnswer, LlmCache } from '../../services/runtime/llm.ts';

export class JsonlLlmCache implements LlmCache {
  private readonly map = new Map<string, CachedAnswer>();
  private fd: number | undefined;
  /** Lines that could not be read back (a torn write from a killed run). */
  readonly skippedLines: number;

  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    let skipped = 0;
    if (fs.existsSync(file)) {
      const text = fs.readFileSync(file, 'utf8');
      for (const line of text.split('\n')) {
        if (!line) continue;
        try {
          const entry = JSON.parse(line) as { key: string } & CachedAnswer;
          this.map.set(entry.key, { content: entry.content, model: entry.model, promptTokens: entry.promptTokens, completionTokens: entry.completionTokens });
        } catch {
          skipped++;
        }
      }
      // A torn last line would glue onto the next append: end the file with a newline first.
      if (text.length > 0 && !text.endsWith('\n')) fs.appendFileSync(file, '\n');
    }
    this.skippedLines = skipped;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): CachedAnswer | undefined {
    return this.map.get(key);
  }

  set(key: string, value: CachedAnswer): void {
    if (this.map.has(key)) return;
    this.map.set(key, value);
    this.fd ??= fs.openSync(this.file, 'a');
    fs.writeSync(this.fd, `${JSON.stringify({ key, ...value })}\n`);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
