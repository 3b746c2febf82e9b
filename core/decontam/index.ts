export {
  NgramIndex,
  createNgramIndex,
  longestCommonRun,
  normalizeForDecontam,
  type BenchmarkRecord,
  type NgramIndexFingerprint,
  type ContaminationRates,
  type ContaminationResult,
  type OverlapMatch,
  type RateRow,
} from './ngram-index.ts';
