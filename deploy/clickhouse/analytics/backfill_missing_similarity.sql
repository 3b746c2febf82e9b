-- Backfill input: accepted verdicts of one judge config that have no seed_similarity row for the
-- embeddings model yet, with their problem and lineage seeds; at most {limit} per call.
SELECT verdict_id, problem, lineage_seed_ids
FROM {db}.verdicts FINAL
WHERE accepted = 1
  AND judge_config_version = {judge_config}
  AND verdict_id NOT IN (SELECT verdict_id FROM {db}.seed_similarity FINAL WHERE model = {embeddings_model})
ORDER BY verdict_id
LIMIT {limit}
