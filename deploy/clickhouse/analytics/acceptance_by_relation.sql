-- The paper's Table 4 layout, for one judge config: per relation type and hop, verdicts, accepted,
-- acceptance rate and the mean weighted problem score over verdicts that have one (paper: 1-hop
-- 0.94, 2-hop 0.72, 3-hop 0.62). mean_score is NULL where no verdict has a score.
SELECT
    relation,
    hop,
    count() AS judged,
    sum(accepted) AS accepted_count,
    sum(accepted) / count() AS acceptance_rate,
    count(problem_score) AS scored,
    if(count(problem_score) = 0, NULL, sum(problem_score) / count(problem_score)) AS mean_score
FROM {db}.verdicts FINAL
WHERE judge_config_version = {judge_config}
GROUP BY relation, hop
ORDER BY hop, relation
