/** The supervisor's pure parts: its backoff, and how a process is recognized (pid + start time). */
import { describe, expect, it } from 'vitest';
import { isSameProcess, processStartTime } from '../../../cli/ops/manager.ts';
import { restartDelayMs } from '../../../cli/ops/supervisor.ts';

describe('supervisor', () => {
  it('restarts at once, then backs off 1, 2, 4 ... up to 60 s while a service keeps dying', () => {
    expect([0, 1, 2, 3, 4, 6, 7, 20].map(restartDelayMs)).toEqual([0, 1000, 2000, 4000, 8000, 32_000, 60_000, 60_000]);
  });

  it('a process is its pid and its start time: the same pid with another start time is another process', () => {
    const mine = processStartTime(process.pid);
    expect(mine).toMatch(/^\d+$/);
    expect(isSameProcess(process.pid, mine)).toBe(true);
    expect(isSameProcess(process.pid, String(Number(mine) + 1))).toBe(false);
    expect(isSameProcess(process.pid, null)).toBe(true); // recorded without procfs: the pid is all we know
    expect(processStartTime(2 ** 22 + 7)).toBeUndefined();
    expect(isSameProcess(2 ** 22 + 7, mine)).toBe(false);
  });
});
