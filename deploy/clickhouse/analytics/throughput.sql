-- Verdicts and accepted pairs per time bucket of the verdicts' created_at ({bucket_seconds} s
-- buckets; t and bucket_start: the bucket start as Unix seconds and as a DateTime), for one judge
-- config; accepted_per_minute scales the bucket's count to one minute.
SELECT
    toUInt32(intDiv(toUInt32(created_at), {bucket_seconds}) * {bucket_seconds}) AS t,
    toDateTime(t, 'UTC') AS bucket_start,
    count() AS judged,
    sum(accepted) AS accepted_count,
    sum(accepted) * 60 / {bucket_seconds} AS accepted_per_minute
FROM {db}.verdicts FINAL
WHERE judge_config_version = {judge_config}
GROUP BY t
ORDER BY t
