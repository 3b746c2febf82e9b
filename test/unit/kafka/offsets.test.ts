import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OffsetTracker } from '../../../services/runtime/kafka/offsets.ts';

describe('OffsetTracker', () => {
  it('commits a partition only past contiguous finished batches', () => {
    const t = new OffsetTracker();
    const a = t.begin('in', 0, 9n);
    const b = t.begin('in', 0, 19n);
    const c = t.begin('in', 0, 29n);
    expect(t.finish(b)).toBeUndefined(); // a still runs
    expect(t.finish(c)).toBeUndefined();
    expect(t.pending).toBe(1);
    expect(t.finish(a)).toEqual({ topic: 'in', partition: 0, offset: 30n }); // a, b, c all done
    expect(t.pending).toBe(0);
  });

  it('keeps partitions independent', () => {
    const t = new OffsetTracker();
    const p0 = t.begin('in', 0, 4n);
    const p1 = t.begin('in', 1, 7n);
    expect(t.finish(p1)).toEqual({ topic: 'in', partition: 1, offset: 8n });
    expect(t.pending).toBe(1);
    expect(t.finish(p0)).toEqual({ topic: 'in', partition: 0, offset: 5n });
  });

  it('follows delivery order when a rebalance redelivers a range, and rejects unknown tickets', () => {
    const t = new OffsetTracker();
    const a = t.begin('in', 0, 9n);
    const again = t.begin('in', 0, 4n); // the client re-read 0..4 after a rebalance
    expect(t.finish(again)).toBeUndefined(); // a (0..9) still runs
    expect(t.finish(a)).toEqual({ topic: 'in', partition: 0, offset: 10n });
    expect(() => t.finish({ topic: 'in', partition: 3, lastOffset: 1n, done: false })).toThrow(/unknown batch/);
  });

  it('never commits past an unfinished batch, whatever the finishing order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 12 }), fc.func(fc.integer()), (sizes, order) => {
        const t = new OffsetTracker();
        let last = -1n;
        const tickets = sizes.map((n) => t.begin('in', 0, (last += BigInt(n))));
        const finishing = tickets.map((ticket, i) => ({ ticket, rank: order(i) })).sort((x, y) => x.rank - y.rank);
        let committed = 0n;
        for (const { ticket } of finishing) {
          const c = t.finish(ticket);
          if (c) {
            expect(c.offset).toBeGreaterThan(committed);
            committed = c.offset;
          }
          // every batch whose end is below the committed offset has finished
          for (const other of tickets) if (other.lastOffset < committed) expect(other.done).toBe(true);
        }
        expect(committed).toBe(last + 1n);
      }),
    );
  });
});
