export { KcGraph, KEY_SEPARATOR } from './kc-graph.ts';
export type { AddSeedResult, KcEdgeAttributes, KcNodeAttributes } from './kc-graph.ts';
export { serializeGraph, restoreGraph, GRAPH_FORMAT_VERSION } from './codec.ts';
export type { GraphStats, DegreeStats } from './stats.ts';
export type { CsrSnapshot } from './csr.ts';
export { degreeOf, edgePosition, edgeWeight, isAdjacent } from './csr.ts';
