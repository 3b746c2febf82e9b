/**
 * The GRIP method as a library with no I/O: the same code inside the Kafka services, `grip run`,
 * tests and benchmarks. Model-backed steps (synonym checks, embeddings) are injected functions.
 */
export * from './seeds/index.ts';
export * from './concepts/index.ts';
export * from './graph/index.ts';
export * from './combos/index.ts';
export * from './judging/index.ts';
export * from './dedup/index.ts';
export * from './decontam/index.ts';
export * from './prompts/index.ts';
export * from './report/index.ts';
export { canonicalJson, deterministicId, sha256Hex, shortHash } from './util/hash.ts';
export { createRng, type Rng } from './util/rng.ts';
