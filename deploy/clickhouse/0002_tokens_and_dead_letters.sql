-- Token counts per lineage step (parallel to lineage_call_ids: index i = step i), so that cost per
-- accepted pair can be computed in ClickHouse; rows written before this migration read 0.
ALTER TABLE {db}.concepts ADD COLUMN lineage_prompt_tokens Array(UInt32) AFTER lineage_call_ids;
ALTER TABLE {db}.concepts ADD COLUMN lineage_completion_tokens Array(UInt32) AFTER lineage_prompt_tokens;
ALTER TABLE {db}.pairs ADD COLUMN lineage_prompt_tokens Array(UInt32) AFTER lineage_call_ids;
ALTER TABLE {db}.pairs ADD COLUMN lineage_completion_tokens Array(UInt32) AFTER lineage_prompt_tokens;
ALTER TABLE {db}.candidates ADD COLUMN lineage_prompt_tokens Array(UInt32) AFTER lineage_call_ids;
ALTER TABLE {db}.candidates ADD COLUMN lineage_completion_tokens Array(UInt32) AFTER lineage_prompt_tokens;
ALTER TABLE {db}.verdicts ADD COLUMN lineage_prompt_tokens Array(UInt32) AFTER lineage_call_ids;
ALTER TABLE {db}.verdicts ADD COLUMN lineage_completion_tokens Array(UInt32) AFTER lineage_prompt_tokens;

-- Every DLQ record of every stage (the grip.*.dlq topics), so that each seed can be accounted for
-- in ClickHouse: processed, or dead-lettered with a reason. Keyed by the record it failed on
-- (source topic, partition, offset; for seed-ingest, which has no source record, the content hash
-- of the rejected input): the same failure dead-lettered again replaces its row.
-- payload: the original bytes as UTF-8 where they are text, else base64 (payload_encoding says which).
CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    dlq_id String,
    dlq_topic String,
    stage String,
    reason String,
    detail String,
    source_topic String,
    source_partition Int32,
    source_offset Int64,
    message_key String,
    seed_ids Array(String),
    payload String,
    payload_encoding String,
    failed_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY dlq_id;
