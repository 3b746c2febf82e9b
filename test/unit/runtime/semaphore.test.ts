import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../../services/runtime/semaphore.ts';

describe('Semaphore', () => {
  it('takes several permits at once, first come first served', async () => {
    const s = new Semaphore(4);
    await s.acquire(3);
    const order: string[] = [];
    const big = s.acquire(3).then(() => order.push('big'));
    const small = s.acquire(1).then(() => order.push('small')); // one is free, but big came first
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual([]);
    s.release(3);
    await Promise.all([big, small]);
    expect(order).toEqual(['big', 'small']);
    expect(s.inFlight).toBe(4);
    s.release(3);
    s.release(1);
    expect(s.inFlight).toBe(0);
  });

  it('refuses a request it could never grant', async () => {
    await expect(new Semaphore(2).acquire(3)).rejects.toThrow(/cannot acquire 3 of 2/);
  });
});
