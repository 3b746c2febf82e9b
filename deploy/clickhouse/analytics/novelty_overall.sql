-- Novelty rate: share of combinations (pairs) whose KCs never all appeared together in one seed
-- (paper: 71.8%), with the combinations per relation type. Independent of the judge config.
SELECT
    relation,
    count() AS combinations,
    sum(novel) AS novel_combinations
FROM {db}.pairs FINAL
GROUP BY relation
ORDER BY relation
