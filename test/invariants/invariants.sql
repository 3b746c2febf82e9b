-- Invariants of the pipeline's results, as queries over the ClickHouse tables (issue 10). Each
-- block returns the rows that VIOLATE its invariant: nothing returned means it holds. Run them once
-- the pipeline is idle (consumer lag 0), else work in flight shows as "unaccounted".
--
-- They run on ClickHouse 18.16 and current releases: no CTEs, no query parameters ({db} is the
-- database, substituted like the migrations'). Uniqueness is checked across rows with DIFFERENT
-- ids (a table's own ORDER BY key is unique after FINAL by construction, proving nothing), and
-- FINAL is used only where the latest version of a row is what counts.
--
-- Each block starts with `-- check: <name>` followed by a one-line description.

-- check: seed_stored_once
-- One seed (same problem and solution) stored under two seed ids: a resend would count twice.
SELECT any(seed_id) AS example_seed_id, uniqExact(seed_id) AS seed_ids
FROM {db}.seeds
GROUP BY problem, solution
HAVING uniqExact(seed_id) > 1;

-- check: seed_accounted
-- A stored seed with neither concepts nor a dead letter (with a reason) naming it: a lost seed.
SELECT seed_id
FROM {db}.seeds
WHERE seed_id NOT IN (SELECT seed_id FROM {db}.concepts)
  AND seed_id NOT IN (SELECT arrayJoin(seed_ids) FROM {db}.dead_letters WHERE reason != '' AND reason != 'unknown');

-- check: one_concepts_per_seed_and_version
-- Two concepts rows (different concepts_id) for one seed from the same extraction prompts and models.
SELECT seed_id,
       lineage_prompt_versions[indexOf(lineage_stages, 'extract')] AS extract_prompt,
       lineage_models[indexOf(lineage_stages, 'extract')] AS extract_model,
       uniqExact(concepts_id) AS concepts_ids
FROM {db}.concepts
GROUP BY seed_id, extract_prompt, extract_model
HAVING uniqExact(concepts_id) > 1;

-- check: one_candidate_per_combo_and_version
-- Two candidates (different candidate_id) for one combination from the same generator prompt and
-- model: a redelivery produced a second problem. (Grouped by the synthesize step, not by every
-- step: which solver runs depends on an answer, so two copies may differ there.)
SELECT combo_id,
       lineage_prompt_versions[indexOf(lineage_stages, 'synthesize')] AS synth_prompt,
       lineage_models[indexOf(lineage_stages, 'synthesize')] AS synth_model,
       uniqExact(candidate_id) AS candidate_ids
FROM {db}.candidates
GROUP BY combo_id, synth_prompt, synth_model
HAVING uniqExact(candidate_id) > 1;

-- check: one_verdict_per_candidate_and_config
-- Two verdicts (different verdict_id) for one candidate under one judge configuration.
SELECT candidate_id, judge_config_version, uniqExact(verdict_id) AS verdict_ids
FROM {db}.verdicts
GROUP BY candidate_id, judge_config_version
HAVING uniqExact(verdict_id) > 1;

-- check: no_self_duplicate
-- A verdict rejected as a duplicate of itself, in any stored version of the row (not FINAL: the
-- accepted version it replaced may still be there, or merged away).
SELECT DISTINCT verdict_id, candidate_id
FROM {db}.verdicts
WHERE duplicate_of = verdict_id;

-- check: accepted_then_rejected
-- A verdict stored as accepted whose latest version is a rejection: an accepted problem lost (as
-- long as the accepted version is not merged away; the snapshot check covers later losses).
SELECT verdict_id
FROM {db}.verdicts
WHERE accepted = 1
  AND verdict_id IN (SELECT verdict_id FROM {db}.verdicts FINAL WHERE accepted = 0)
GROUP BY verdict_id;

-- check: dead_letter_without_reason
-- A dead letter stored without its stage or reason.
SELECT dlq_id, dlq_topic, stage, reason
FROM {db}.dead_letters FINAL
WHERE stage = '' OR stage = 'unknown' OR reason = '' OR reason = 'unknown';
