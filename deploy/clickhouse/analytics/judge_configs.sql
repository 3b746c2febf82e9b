-- Every judge config that produced verdicts, newest first (the one whose first verdict is the most
-- recent leads): the report and the dashboard show figures for one config, the newest by default.
SELECT
    judge_config_version,
    count() AS verdicts,
    sum(accepted) AS accepted_count,
    min(version) AS first_version,
    max(version) AS last_version
FROM {db}.verdicts FINAL
GROUP BY judge_config_version
ORDER BY first_version DESC, judge_config_version
