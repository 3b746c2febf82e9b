-- Similarity of each accepted problem (one judge config) to its seeds: the highest cosine over the
-- seeds in its lineage, from seed_similarity rows of one embeddings model (filled by the backfill in
-- services/analytics). Paper: 0.55-0.65, none above 0.9. One row per accepted verdict that has one.
SELECT
    verdict_id,
    max(similarity) AS similarity_to_seed
FROM {db}.seed_similarity FINAL
WHERE model = {embeddings_model}
  AND similarity IS NOT NULL
  AND verdict_id IN
  (
      SELECT verdict_id FROM {db}.verdicts FINAL
      WHERE accepted = 1 AND judge_config_version = {judge_config}
  )
GROUP BY verdict_id
ORDER BY verdict_id
