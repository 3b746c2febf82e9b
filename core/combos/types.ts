/**
 * Combination types. Relation types of the paper: 1-hop, 2-hop, 3-hop, community (cliques of 3-4
 * KCs). `louvain` is this project's extension (groups drawn from one Louvain community), not part of
 * GRIP: its combinations carry `extension: true`.
 */
export const PAPER_RELATIONS = ['1-hop', '2-hop', '3-hop', 'community'] as const;
export const EXTENSION_RELATIONS = ['louvain'] as const;
export const RELATIONS = [...PAPER_RELATIONS, ...EXTENSION_RELATIONS] as const;
export type PaperRelation = (typeof PAPER_RELATIONS)[number];
export type ExtensionRelation = (typeof EXTENSION_RELATIONS)[number];
export type Relation = PaperRelation | ExtensionRelation;

/**
 * One combination of KCs to synthesize a problem from.
 *
 * hop: 1-hop = 1; 2-hop = 2; 3-hop = 3 (exact shortest-path distances); community = 1 (a clique);
 * louvain = the largest pairwise shortest-path distance among the members, capped at 3 (3 means
 * "3 or more": computing larger distances would need a BFS per pair).
 *
 * path (witness): 1-hop = [a, b]; 2-hop = [a, shared neighbour, b]; 3-hop = [hub, x, y, target], a
 * shortest path whose weakest edge is as strong as possible; community = the clique members (sorted);
 * louvain = the members (sorted).
 *
 * weight: 1-hop = co-occurrence count; 2-hop = min of the two edge weights on the witness path;
 * 3-hop = min edge weight along the witness path (the best bottleneck over all shortest paths);
 * community = min edge weight inside the clique; louvain = min seed frequency of the members.
 */
export interface Combination {
  /** Canonical key: sorted KC ids joined with "|". Unique per KC set, whatever the relation. */
  key: string;
  /** KC ids, sorted. */
  kcIds: string[];
  relation: Relation;
  hop: number;
  path: string[];
  weight: number;
  /** No single seed contains all these KCs. */
  novel: boolean;
  /** Present (true) only on combinations of a relation that is not in the paper (louvain). */
  extension?: true;
  /** Louvain community number (louvain only; numbers are per graph version). */
  community?: number;
}

/** Internal candidate over node indices; strings are built only for emitted combinations. */
export interface Candidate {
  members: number[];
  path: number[];
  weight: number;
  hop: number;
  community?: number;
}
