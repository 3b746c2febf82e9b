/** Sampler options, their defaults and validation (bad input gets an error naming the field). */
import { RELATIONS, type Relation } from './types.ts';

export interface SamplerOptions {
  /** RNG seed: the same seed on the same graph gives the same combinations in the same order. */
  seed: number;
  /**
   * Share of the output per relation (normalized to sum 1). Relations left out or at 0 are not
   * sampled. When a relation runs dry the others fill in. Default: the paper's four types,
   * {"1-hop":0.1,"2-hop":0.5,"3-hop":0.2,"community":0.2}; `louvain` (our extension) is opt-in.
   */
  quotas?: Partial<Record<Relation, number>>;
  /**
   * Implicit combinations (every relation except 1-hop) with weight < minWeight are dropped;
   * weight == minWeight is KEPT. Default 1 (keeps everything: weights are >= 1).
   */
  minWeight?: number;
  /** Number of hubs for 3-hop (top KCs by degree). Exclusive with hubFraction. */
  hubCount?: number;
  /** Share of non-isolated KCs that are hubs for 3-hop (default 0.01, at least one). */
  hubFraction?: number;
  /** Probability that a community draw tries a 4-clique rather than a triangle (default 0.5). */
  fourCliqueShare?: number;
  /** louvain: probability of a group of 3 rather than 2 (default 0.5). */
  louvainTripleShare?: number;
  /** louvain: resolution (default 1). */
  louvainResolution?: number;
  /**
   * louvain: recompute communities once the edge count grew by this share since the last run
   * (default 0.05; 0 = after every change).
   */
  louvainRefreshRatio?: number;
  /** Yield only novel combinations (default false; 1-hop pairs are never novel). */
  novelOnly?: boolean;
  /**
   * Miss count at which a relation switches from random draws to a systematic sweep of its
   * remaining candidates (default 256): each fruitless draw adds 1, each success takes 8 off (not
   * below 0), so the sweep starts after missLimit fruitless draws in a row, or once fewer than about
   * 1 draw in 9 succeeds. When the sweep ends the relation is exhausted until the graph changes.
   */
  missLimit?: number;
}

export interface ResolvedOptions {
  seed: number;
  shares: Map<Relation, number>;
  minWeight: number;
  hubCount?: number;
  hubFraction: number;
  fourCliqueShare: number;
  louvainTripleShare: number;
  louvainResolution: number;
  louvainRefreshRatio: number;
  novelOnly: boolean;
  missLimit: number;
}

export const DEFAULT_QUOTAS: Readonly<Partial<Record<Relation, number>>> = {
  '1-hop': 0.1,
  '2-hop': 0.5,
  '3-hop': 0.2,
  community: 0.2,
};

export function resolveOptions(o: SamplerOptions): ResolvedOptions {
  if (o === null || typeof o !== 'object') throw new TypeError('createSampler: options must be an object with a seed');
  if (!Number.isInteger(o.seed)) throw new TypeError(`createSampler: seed must be an integer, got ${String(o.seed)}`);
  const quotas = o.quotas ?? DEFAULT_QUOTAS;
  const shares = new Map<Relation, number>();
  let sum = 0;
  for (const [name, value] of Object.entries(quotas)) {
    if (!(RELATIONS as readonly string[]).includes(name)) {
      throw new RangeError(`createSampler: unknown relation "${name}" in quotas (known: ${RELATIONS.join(', ')})`);
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`createSampler: quota for "${name}" must be a finite number >= 0, got ${String(value)}`);
    }
    sum += value;
  }
  if (!(sum > 0)) throw new RangeError('createSampler: quotas must give at least one relation a share > 0');
  for (const r of RELATIONS) {
    const v = quotas[r] ?? 0;
    if (v > 0) shares.set(r, v / sum);
  }
  const minWeight = o.minWeight ?? 1;
  if (typeof minWeight !== 'number' || !Number.isFinite(minWeight) || minWeight < 0) {
    throw new RangeError(`createSampler: minWeight must be a finite number >= 0, got ${String(minWeight)}`);
  }
  if (o.hubCount !== undefined && o.hubFraction !== undefined) {
    throw new RangeError('createSampler: give hubCount or hubFraction, not both');
  }
  if (o.hubCount !== undefined && (!Number.isInteger(o.hubCount) || o.hubCount < 1)) {
    throw new RangeError(`createSampler: hubCount must be a positive integer, got ${String(o.hubCount)}`);
  }
  const hubFraction = o.hubFraction ?? 0.01;
  if (!(hubFraction > 0 && hubFraction <= 1)) throw new RangeError(`createSampler: hubFraction must be in (0, 1], got ${String(hubFraction)}`);
  const probability = (name: string, v: number | undefined, dflt: number): number => {
    const x = v ?? dflt;
    if (typeof x !== 'number' || !(x >= 0 && x <= 1)) throw new RangeError(`createSampler: ${name} must be in [0, 1], got ${String(x)}`);
    return x;
  };
  const nonNegative = (name: string, v: number | undefined, dflt: number): number => {
    const x = v ?? dflt;
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new RangeError(`createSampler: ${name} must be a finite number >= 0, got ${String(x)}`);
    return x;
  };
  const missLimit = o.missLimit ?? 256;
  if (!Number.isInteger(missLimit) || missLimit < 1) throw new RangeError(`createSampler: missLimit must be a positive integer, got ${String(missLimit)}`);
  const louvainResolution = o.louvainResolution ?? 1;
  if (!(louvainResolution > 0 && Number.isFinite(louvainResolution))) {
    throw new RangeError(`createSampler: louvainResolution must be a positive number, got ${String(louvainResolution)}`);
  }
  return {
    seed: o.seed,
    shares,
    minWeight,
    hubCount: o.hubCount,
    hubFraction,
    fourCliqueShare: probability('fourCliqueShare', o.fourCliqueShare, 0.5),
    louvainTripleShare: probability('louvainTripleShare', o.louvainTripleShare, 0.5),
    louvainResolution,
    louvainRefreshRatio: nonNegative('louvainRefreshRatio', o.louvainRefreshRatio, 0.05),
    novelOnly: o.novelOnly ?? false,
    missLimit,
  };
}
