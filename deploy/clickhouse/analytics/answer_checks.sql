-- Quality gates and the self-consistency check, for one judge config: verdicts per relation type,
-- hop and reason, and whether the independent second solve (LLM step `verify`) ran for them.
-- core/report answerCheckFigures turns these rows into rejections per gate (reasons `gate:<name>`)
-- and the agreement rate per relation and hop (checked: verified = 1; disagreed: reason
-- 'self_consistency'). calls_saved: the judge calls those verdicts did not make.
SELECT
    relation,
    hop,
    reason,
    has(lineage_stages, 'verify') AS verified,
    count() AS n,
    sum(calls_saved) AS saved
FROM {db}.verdicts FINAL
WHERE judge_config_version = {judge_config}
GROUP BY relation, hop, reason, verified
ORDER BY hop, relation, reason, verified
