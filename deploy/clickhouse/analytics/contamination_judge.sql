-- Contamination as the judge recorded it, for one judge config: share of accepted problems whose
-- longest word run shared with any benchmark item (contamination_overlap, in words) is at least 8,
-- 10 and 13 words, i.e. that have an 8/10/13-gram overlap. Per-benchmark shares need the benchmark
-- texts, which ClickHouse does not hold: the report computes those with core/decontam over
-- accepted_problems.sql.
SELECT
    count() AS accepted_count,
    countIf(contamination_overlap >= 8) AS overlap_8,
    countIf(contamination_overlap >= 10) AS overlap_10,
    countIf(contamination_overlap >= 13) AS overlap_13,
    if(count() = 0, NULL, countIf(contamination_overlap >= 8) / count()) AS rate_8,
    if(count() = 0, NULL, countIf(contamination_overlap >= 10) / count()) AS rate_10,
    if(count() = 0, NULL, countIf(contamination_overlap >= 13) / count()) AS rate_13
FROM {db}.verdicts FINAL
WHERE accepted = 1 AND judge_config_version = {judge_config}
