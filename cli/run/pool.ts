/** Concurrency helpers that keep results in input order, so a run's output never depends on timing. */

/** Maps items with at most `concurrency` calls in flight; results come back in input order. */
export async function mapOrdered<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (error) {
        failed ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failed !== undefined) throw failed;
  return results;
}

/**
 * Lets tasks that run concurrently pass one section in index order: task i enters only after
 * task i-1 left. Used where a shared, order-sensitive state is updated (the KC registry: the first
 * name of a concept founds its cluster, so merges must follow seed order for a reproducible run).
 */
export class OrderedGate {
  private turn = 0;
  private readonly waiting = new Map<number, () => void>();

  async pass<R>(index: number, section: () => Promise<R>): Promise<R> {
    if (index !== this.turn) await new Promise<void>((resolve) => this.waiting.set(index, resolve));
    try {
      return await section();
    } finally {
      this.turn = index + 1;
      const wake = this.waiting.get(this.turn);
      if (wake) {
        this.waiting.delete(this.turn);
        wake();
      }
    }
  }

  /** Marks index as done without entering (a task that failed or had nothing to add). */
  skip(index: number): Promise<void> {
    return this.pass(index, async () => undefined);
  }
}
