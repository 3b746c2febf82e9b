-- Novelty rate per time bucket of the combinations' created_at ({bucket_seconds} s buckets; t is the
-- bucket start as a Unix time in seconds, UTC; bucket_start the same as a DateTime, for Grafana).
SELECT
    toUInt32(intDiv(toUInt32(created_at), {bucket_seconds}) * {bucket_seconds}) AS t,
    toDateTime(t, 'UTC') AS bucket_start,
    count() AS combinations,
    sum(novel) AS novel_combinations,
    sum(novel) / count() AS novelty_rate
FROM {db}.pairs FINAL
GROUP BY t
ORDER BY t
