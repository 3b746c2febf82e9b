import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileLlmCache } from '../../../services/runtime/file-llm-cache.ts';

const answer = (content: string) => ({ content, model: 'm', promptTokens: 3, completionTokens: 2 });

describe('FileLlmCache', () => {
  it('persists answers across instances; the first answer for a key wins', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'grip-cache-')), 'llm-cache.jsonl');
    const first = new FileLlmCache(file);
    first.set('a', answer('{"x":1}'));
    first.set('b', answer('{"x":2}'));
    first.set('a', answer('{"x":99}')); // a cache never rewrites history
    first.close();
    const second = new FileLlmCache(file);
    expect(second.size).toBe(2);
    expect(second.get('a')).toEqual(answer('{"x":1}'));
    expect(second.get('c')).toBeUndefined();
    second.close();
  });

  it('migrates the JSONL file of earlier versions (torn last line skipped) and then reads the store', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-cache-'));
    const file = path.join(dir, 'llm-cache.jsonl');
    fs.writeFileSync(file, `${JSON.stringify({ key: 'a', ...answer('{"x":1}') })}\n${JSON.stringify({ key: 'b', ...answer('{"x":2}') })}\n{"key":"c","content":"{\\"x`);
    const cache = new FileLlmCache(file);
    expect(cache.skippedLines).toBe(1);
    expect(cache.size).toBe(2);
    expect(cache.get('b')?.content).toBe('{"x":2}');
    cache.set('c', answer('{"x":3}'));
    cache.close();
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.existsSync(`${file}.migrated`)).toBe(true);
    const again = new FileLlmCache(file);
    expect([again.size, again.get('c')?.content, again.get('a')?.content]).toEqual([3, '{"x":3}', '{"x":1}']);
    again.close();
  });
});
