export { normalizeKcName, singularize } from './normalize.ts';
export {
  KcRegistry,
  applySettingsDifferences,
  createKcRegistry,
  type KcApplySettings,
  type EmbedFn,
  type KcAddInput,
  type KcAddResult,
  type KcCluster,
  type KcDecision,
  type KcOutcome,
  type KcRegistryOptions,
  type KcRegistryState,
  type SynonymCheck,
  type SynonymVerdict,
} from './registry.ts';
export { VectorStore, toUnitVector, hammingCutoff, COSINE_EPSILON, type SearchMode, type Neighbor } from './vector-store.ts';
export { implausibleKcName } from './plausible.ts';
