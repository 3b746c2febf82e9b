export { Deduper, createDeduper, type DedupResult, type DeduperOptions, type DeduperState, type Fingerprint } from './deduper.ts';
export { LshStore } from './lsh-store.ts';
export { MinHasher, normalizeForDedup, exactKey, shingleHashes, estimatedJaccard } from './minhash.ts';
