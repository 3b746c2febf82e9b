/** Summary statistics of a KC graph: size, degree distribution, components, hubs. */
import { degreeOf, type CsrSnapshot } from './csr.ts';

export interface DegreeStats {
  min: number;
  max: number;
  mean: number;
  median: number;
  p90: number;
  p99: number;
  /** Power-of-two buckets: degree in [from, to]; bucket 0 holds isolated KCs. */
  histogram: { from: number; to: number; count: number }[];
}
export interface GraphStats {
  nodes: number;
  edges: number;
  seeds: number;
  /** Sum of edge weights (co-occurring KC pairs counted per seed). */
  totalWeight: number;
  degree: DegreeStats;
  components: { count: number; largest: number; isolated: number };
  /** Top-k KCs by degree (ties broken by id). */
  hubs: { id: string; degree: number; frequency: number }[];
}

export function computeStats(s: CsrSnapshot, seeds: number, hubCount = 10): GraphStats {
  const degrees = new Int32Array(s.n);
  for (let u = 0; u < s.n; u++) degrees[u] = degreeOf(s, u);
  const sorted = degrees.slice().sort();
  const quantile = (q: number): number => (s.n === 0 ? 0 : sorted[Math.min(s.n - 1, Math.floor(q * (s.n - 1)))]);
  let totalWeight = 0;
  for (let i = 0; i < s.weights.length; i++) totalWeight += s.weights[i];

  const histogram: DegreeStats['histogram'] = [];
  for (const d of sorted) {
    const from = d === 0 ? 0 : 2 ** Math.floor(Math.log2(d));
    const to = d === 0 ? 0 : from * 2 - 1;
    const last = histogram[histogram.length - 1];
    if (last && last.from === from) last.count++;
    else histogram.push({ from, to, count: 1 });
  }

  const hubs = Array.from({ length: s.n }, (_, u) => u)
    .sort((a, b) => degrees[b] - degrees[a] || (s.ids[a] < s.ids[b] ? -1 : 1))
    .slice(0, hubCount)
    .map((u) => ({ id: s.ids[u], degree: degrees[u], frequency: s.frequency[u] }));

  return {
    nodes: s.n,
    edges: s.edgeCount,
    seeds,
    totalWeight: totalWeight / 2,
    degree: {
      min: s.n ? sorted[0] : 0,
      max: s.n ? sorted[s.n - 1] : 0,
      mean: s.n ? (2 * s.edgeCount) / s.n : 0,
      median: quantile(0.5),
      p90: quantile(0.9),
      p99: quantile(0.99),
      histogram,
    },
    components: components(s),
    hubs,
  };
}

/** Connected components by iterative BFS over the CSR arrays. */
function components(s: CsrSnapshot): GraphStats['components'] {
  const seen = new Uint8Array(s.n);
  const queue = new Int32Array(s.n);
  let count = 0;
  let largest = 0;
  let isolated = 0;
  for (let start = 0; start < s.n; start++) {
    if (seen[start]) continue;
    count++;
    seen[start] = 1;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    while (head < tail) {
      const u = queue[head++];
      for (let p = s.offsets[u]; p < s.offsets[u + 1]; p++) {
        const v = s.neighbors[p];
        if (!seen[v]) {
          seen[v] = 1;
          queue[tail++] = v;
        }
      }
    }
    if (tail === 1) isolated++;
    if (tail > largest) largest = tail;
  }
  return { count, largest, isolated };
}
