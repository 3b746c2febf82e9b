/** A FIFO counting semaphore: caps in-flight work (records and batches per consumer, embedding requests). */
export class Semaphore {
  private available: number;
  /** FIFO: a waiter for many permits is not overtaken by later waiters for fewer. */
  private readonly waiters: Array<{ count: number; resolve: () => void }> = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Semaphore capacity must be a positive integer, got ${capacity}`);
    }
    this.available = capacity;
  }

  get inFlight(): number {
    return this.capacity - this.available;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Takes `count` permits (default 1) at once, waiting until that many are free. */
  async acquire(count = 1): Promise<void> {
    if (!Number.isInteger(count) || count < 1 || count > this.capacity) {
      throw new RangeError(`Semaphore: cannot acquire ${count} of ${this.capacity} permits`);
    }
    if (this.waiters.length === 0 && this.available >= count) {
      this.available -= count;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push({ count, resolve }));
  }

  release(count = 1): void {
    this.available += count;
    // hand the permits straight to the waiters, in order
    while (this.waiters.length > 0 && this.waiters[0]!.count <= this.available) {
      const next = this.waiters.shift()!;
      this.available -= next.count;
      next.resolve();
    }
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await task();
    } finally {
      this.release();
    }
  }
}
