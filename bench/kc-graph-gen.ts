/**
 * Synthetic seed -> KC assignments shaped like the paper's graph: `seeds` seeds with 1-5 KCs each,
 * `kcs` KCs in all, power-law (Zipf) KC frequencies. Every KC appears at least once (the long tail
 * of rare KCs), the remaining slots are Zipf draws (the hubs). Deterministic for a seed.
 */
import { createRng } from '../core/util/rng.ts';

export interface GeneratedSeeds {
  seeds: { id: string; kcIds: string[] }[];
  kcs: number;
}

export function generateSeeds(opts: { kcs: number; seeds: number; seed: number; zipf?: number }): GeneratedSeeds {
  const rng = createRng(opts.seed);
  const sizes = Array.from({ length: opts.seeds }, () => 1 + rng.int(5));
  const slots = sizes.reduce((a, b) => a + b, 0);
  if (slots < opts.kcs) throw new RangeError(`generateSeeds: ${slots} slots cannot hold ${opts.kcs} KCs`);
  // Zipf cumulative over KC ranks.
  const s = opts.zipf ?? 1.1;
  const cum = new Float64Array(opts.kcs);
  let total = 0;
  for (let i = 0; i < opts.kcs; i++) cum[i] = total += 1 / Math.pow(i + 1, s);
  const zipfDraw = (): number => {
    const x = rng.next() * total;
    let lo = 0;
    let hi = opts.kcs - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cum[mid] > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  // Each KC once, at a random slot; the other slots from the Zipf law.
  const slotKc = new Int32Array(slots).fill(-1);
  const order = Array.from({ length: slots }, (_, i) => i);
  for (let i = slots - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (let k = 0; k < opts.kcs; k++) slotKc[order[k]] = k;
  const seeds: GeneratedSeeds['seeds'] = [];
  let slot = 0;
  for (let si = 0; si < opts.seeds; si++) {
    const members = new Set<number>();
    const forced: number[] = [];
    for (let j = 0; j < sizes[si]; j++, slot++) if (slotKc[slot] >= 0) forced.push(slotKc[slot]);
    for (const k of forced) members.add(k);
    let guard = 0;
    while (members.size < sizes[si] && guard++ < 100) members.add(zipfDraw());
    seeds.push({ id: `seed-${si}`, kcIds: [...members].map((k) => `kc-${k}`) });
  }
  return { seeds, kcs: opts.kcs };
}
