-- The accepted problems of one judge config, for the per-benchmark contamination check in TypeScript
-- (core/decontam over the benchmark test sets).
SELECT verdict_id, problem
FROM {db}.verdicts FINAL
WHERE accepted = 1 AND judge_config_version = {judge_config}
ORDER BY verdict_id
