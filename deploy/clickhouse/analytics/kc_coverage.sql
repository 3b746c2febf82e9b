-- KC coverage for one judge config: KCs used by accepted verdicts / all KCs (every KC extracted into
-- concepts, plus any KC only an accepted verdict names), and the Gini coefficient of per-KC usage
-- counts over all KCs (unused KCs count 0): 0 = every KC used equally, towards 1 = a few KCs take
-- everything. usage_counts (sorted) lets the report compute Gini with core/report's gini().
SELECT
    kcs_total,
    kcs_used,
    if(kcs_total = 0, NULL, kcs_used / kcs_total) AS share,
    if(total_uses = 0, NULL,
       2 * arraySum(arrayMap((c, i) -> c * i, usage_counts, arrayEnumerate(usage_counts))) / (kcs_total * total_uses)
       - (kcs_total + 1) / kcs_total) AS gini,
    usage_counts
FROM
(
    SELECT
        count() AS kcs_total,
        countIf(uses > 0) AS kcs_used,
        sum(uses) AS total_uses,
        arraySort(groupArray(uses)) AS usage_counts
    FROM
    (
        SELECT kc_id, sum(used) AS uses
        FROM
        (
            SELECT arrayJoin(kc_ids) AS kc_id, toUInt64(0) AS used FROM {db}.concepts FINAL
            UNION ALL
            SELECT arrayJoin(kc_ids) AS kc_id, toUInt64(1) AS used FROM {db}.verdicts FINAL
            WHERE accepted = 1 AND judge_config_version = {judge_config}
        )
        GROUP BY kc_id
    )
)
