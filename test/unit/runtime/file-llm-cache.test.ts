import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileLlmCache } from '../../../services/runtime/file-llm-cache.ts';

const answer = (content: string) => ({ content, model: 'm', promptTokens: 3, completionTokens: 2 });

describe('FileLlmCache', () => {
  it('persists answers across instances and survives a torn last line', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'grip-cache-')), 'llm-cache.jsonl');
    const first = new FileLlmCache(file);
    first.set('a', answer('{"x":1}'));
    first.set('b', answer('{"x":2}'));
    first.set('a', answer('{"x":99}')); // first answer wins: a cache never rewrites history
    first.close();
    fs.appendFileSync(file, '{"key":"c","content":"{\\"x'); // a write cut by SIGKILL

    const second = new FileLlmCache(file);
    expect(second.skippedLines).toBe(1);
    expect(second.size).toBe(2);
    expect(second.get('a')?.content).toBe('{"x":1}');
    expect(second.get('c')).toBeUndefined();
    second.set('c', answer('{"x":3}'));
    second.close();

    const third = new FileLlmCache(file);
    expect(third.get('c')?.content).toBe('{"x":3}');
    expect(third.size).toBe(3);
    third.close();
  });
});
