import { describe, expect, it } from 'vitest';
import { parseRunFile, SettingsError } from '../../../services/runtime/settings.ts';
import { llmStageFlow } from '../../../services/runtime/llm-flow.ts';

describe('concurrency setting', () => {
  it('is auto by default; a number is a ceiling', () => {
    expect(parseRunFile({}).concurrency).toBe('auto');
    expect(parseRunFile({ concurrency: 'auto' }).concurrency).toBe('auto');
    expect(parseRunFile({ concurrency: 64 }).concurrency).toBe(64);
  });

  it.each([['lots'], [0], [2.5], [5000], [true]])('rejects %j naming the field', (value) => {
    expect(() => parseRunFile({ concurrency: value }, 'grip.yaml')).toThrow(SettingsError);
    expect(() => parseRunFile({ concurrency: value }, 'grip.yaml')).toThrow(/^grip\.yaml: concurrency: expected "auto" or an integer from 1 to 1024/);
  });

  it('LLM stages admit records by their limiters, with a memory bound that follows the ceiling', () => {
    let waiting = 0;
    const flow = llmStageFlow(8, { waiting: () => waiting });
    expect(flow.concurrency).toBeGreaterThanOrEqual(16);
    expect(flow.ready!()).toBe(true);
    waiting = 100;
    expect(flow.ready!()).toBe(false);
  });
});
