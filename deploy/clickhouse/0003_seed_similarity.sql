-- Similarity of each accepted problem to each seed in its lineage (cosine of the embeddings model's
-- L2-normalized vectors), filled by the backfill in services/analytics (run by `grip report --from
-- clickhouse` and the dashboard before they read it). One row per (verdict, seed, model): a new
-- embeddings model adds rows beside the old ones instead of overwriting them. similarity is NULL
-- when the seed was not found in the seeds table (the row records that it was tried, so the
-- backfill does not embed that verdict again). version: the computation time in ms.
CREATE TABLE IF NOT EXISTS {db}.seed_similarity
(
    verdict_id String,
    seed_id String,
    model String,
    similarity Nullable(Float64),
    computed_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (verdict_id, seed_id, model);
