-- Cost of the accepted data, for one judge config. LLM calls: every lineage call_id counted once
-- across concepts, pairs, candidates and the config's verdicts (a verdict's lineage repeats its
-- candidate's steps); tokens: prompt + completion tokens of those calls. Judge calls of other
-- configs (replays) are not this config's cost. calls_saved: judge calls early exit made unneeded.
-- accepted_per_minute: accepted verdicts over the span from the first to the last verdict (NULL
-- when that span is 0). Token arrays are resized to the call ids (rows written before migration 0002
-- have none: their calls count 0 tokens).
SELECT
    calls,
    tokens,
    accepted_count,
    if(accepted_count = 0, NULL, calls / accepted_count) AS calls_per_accepted,
    if(accepted_count = 0, NULL, tokens / accepted_count) AS tokens_per_accepted,
    calls_saved_total,
    if(span_seconds = 0, NULL, accepted_count * 60 / span_seconds) AS accepted_per_minute,
    span_seconds
FROM
(
    SELECT
        count() AS calls,
        sum(call_tokens) AS tokens
    FROM
    (
        SELECT call_id, max(step_tokens) AS call_tokens
        FROM
        (
            SELECT
                arrayJoin(arrayMap((c, p, q) -> (c, p + q), lineage_call_ids, arrayResize(lineage_prompt_tokens, length(lineage_call_ids)), arrayResize(lineage_completion_tokens, length(lineage_call_ids)))) AS step,
                tupleElement(step, 1) AS call_id,
                toUInt64(tupleElement(step, 2)) AS step_tokens
            FROM {db}.concepts FINAL
            UNION ALL
            SELECT
                arrayJoin(arrayMap((c, p, q) -> (c, p + q), lineage_call_ids, arrayResize(lineage_prompt_tokens, length(lineage_call_ids)), arrayResize(lineage_completion_tokens, length(lineage_call_ids)))) AS step,
                tupleElement(step, 1) AS call_id,
                toUInt64(tupleElement(step, 2)) AS step_tokens
            FROM {db}.pairs FINAL
            UNION ALL
            SELECT
                arrayJoin(arrayMap((c, p, q) -> (c, p + q), lineage_call_ids, arrayResize(lineage_prompt_tokens, length(lineage_call_ids)), arrayResize(lineage_completion_tokens, length(lineage_call_ids)))) AS step,
                tupleElement(step, 1) AS call_id,
                toUInt64(tupleElement(step, 2)) AS step_tokens
            FROM {db}.candidates FINAL
            UNION ALL
            SELECT
                arrayJoin(arrayMap((c, p, q) -> (c, p + q), lineage_call_ids, arrayResize(lineage_prompt_tokens, length(lineage_call_ids)), arrayResize(lineage_completion_tokens, length(lineage_call_ids)))) AS step,
                tupleElement(step, 1) AS call_id,
                toUInt64(tupleElement(step, 2)) AS step_tokens
            FROM {db}.verdicts FINAL
            WHERE judge_config_version = {judge_config}
        )
        GROUP BY call_id
    )
) AS llm_calls
CROSS JOIN
(
    SELECT
        sum(accepted) AS accepted_count,
        sum(calls_saved) AS calls_saved_total,
        if(count() = 0, 0, toUInt32(max(created_at)) - toUInt32(min(created_at))) AS span_seconds
    FROM {db}.verdicts FINAL
    WHERE judge_config_version = {judge_config}
) AS judged
