-- The pipeline's tables, one per topic, keyed by the messages' deterministic ids.
-- ReplacingMergeTree(version) keeps one row per ORDER BY key after merges; readers use FINAL, so a
-- message redelivered by Kafka never counts twice. `version` is the message's own timestamp in
-- milliseconds (created_at, or ingested_at for seeds): identical redeliveries carry the same
-- version, and a later re-run of a stage that produced the same id wins.
-- Valid on ClickHouse 18.16 and current releases: no LowCardinality, DateTime64, Map, CODEC, TTL or
-- IF NOT EXISTS on columns. DateTime('UTC') makes the stored instants independent of the server's
-- time zone (the sink writes 'YYYY-MM-DD hh:mm:ss' in UTC).
-- Lineage is flattened the same way on every table: lineage_seed_ids, lineage_kc_ids,
-- lineage_combo_id, and the steps as parallel arrays lineage_stages / lineage_models /
-- lineage_prompt_versions / lineage_call_ids (index i of each is step i).
-- {db} is replaced by the configured database name. One statement per `;` at the end of a line.

CREATE TABLE IF NOT EXISTS {db}.seeds
(
    seed_id String,
    problem String,
    solution String,
    source String,
    source_id Nullable(String),
    ingested_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY seed_id;

-- Keyed by (seed_id, concepts_id): concepts_id includes the prompt versions and models, so a
-- re-extraction with another model keeps its row beside the earlier one, as verdicts do.
CREATE TABLE IF NOT EXISTS {db}.concepts
(
    seed_id String,
    concepts_id String,
    kc_ids Array(String),
    kc_names Array(String),
    kc_raw_names Array(String),
    kc_outcomes Array(String),
    kc_similarities Array(Float64),
    dropped_raw_names Array(String),
    dropped_reasons Array(String),
    lineage_seed_ids Array(String),
    lineage_kc_ids Array(String),
    lineage_combo_id Nullable(String),
    lineage_stages Array(String),
    lineage_models Array(String),
    lineage_prompt_versions Array(String),
    lineage_call_ids Array(String),
    created_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (seed_id, concepts_id);

CREATE TABLE IF NOT EXISTS {db}.pairs
(
    combo_id String,
    key String,
    kc_ids Array(String),
    kc_names Array(String),
    relation String,
    hop UInt8,
    witness Array(String),
    weight Float64,
    novel UInt8,
    lineage_seed_ids Array(String),
    lineage_kc_ids Array(String),
    lineage_combo_id Nullable(String),
    lineage_stages Array(String),
    lineage_models Array(String),
    lineage_prompt_versions Array(String),
    lineage_call_ids Array(String),
    created_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY combo_id;

CREATE TABLE IF NOT EXISTS {db}.candidates
(
    candidate_id String,
    combo_id String,
    relation String,
    hop UInt8,
    novel UInt8,
    kc_ids Array(String),
    kc_names Array(String),
    problem String,
    difficulty String,
    solution String,
    final_answer Nullable(String),
    lineage_seed_ids Array(String),
    lineage_kc_ids Array(String),
    lineage_combo_id Nullable(String),
    lineage_stages Array(String),
    lineage_models Array(String),
    lineage_prompt_versions Array(String),
    lineage_call_ids Array(String),
    created_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY candidate_id;

-- judge_* are the Verdict's judges flattened into parallel arrays (index i = judge i); a null
-- score or vote means early exit skipped that call.
CREATE TABLE IF NOT EXISTS {db}.verdicts
(
    verdict_id String,
    candidate_id String,
    combo_id String,
    judge_config_version String,
    accepted UInt8,
    reason String,
    problem_score Nullable(Float64),
    threshold Float64,
    judge_names Array(String),
    judge_models Array(String),
    judge_weights Array(Float64),
    judge_problem_scores Array(Nullable(Float64)),
    judge_solution_votes Array(Nullable(UInt8)),
    calls_made UInt32,
    calls_saved UInt32,
    duplicate_of Nullable(String),
    contamination_overlap UInt32,
    contamination_match Nullable(String),
    relation String,
    hop UInt8,
    novel UInt8,
    kc_ids Array(String),
    kc_names Array(String),
    problem String,
    solution String,
    final_answer Nullable(String),
    difficulty String,
    lineage_seed_ids Array(String),
    lineage_kc_ids Array(String),
    lineage_combo_id Nullable(String),
    lineage_stages Array(String),
    lineage_models Array(String),
    lineage_prompt_versions Array(String),
    lineage_call_ids Array(String),
    created_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY verdict_id;
