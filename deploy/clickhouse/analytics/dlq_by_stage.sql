-- Dead-lettered records per stage (dead_letters), and the DLQ rate: dead letters / (dead letters +
-- rows the stage produced: seed-ingest -> seeds, concept-extractor -> concepts, concept-graph ->
-- pairs, problem-synth -> candidates, judge -> verdicts). concept-graph turns one input into many
-- pairs, so its rate is a lower bound; a stage not listed here has dlq_rate NULL.
SELECT
    stage,
    sum(dlq_rows) AS dead_letters,
    sum(produced_rows) AS produced,
    if(max(known) = 0 OR sum(dlq_rows) + sum(produced_rows) = 0, NULL, sum(dlq_rows) / (sum(dlq_rows) + sum(produced_rows))) AS dlq_rate
FROM
(
    SELECT stage, count() AS dlq_rows, toUInt64(0) AS produced_rows, toUInt8(0) AS known FROM {db}.dead_letters FINAL GROUP BY stage
    UNION ALL
    SELECT 'seed-ingest' AS stage, toUInt64(0) AS dlq_rows, count() AS produced_rows, toUInt8(1) AS known FROM {db}.seeds FINAL
    UNION ALL
    SELECT 'concept-extractor' AS stage, toUInt64(0) AS dlq_rows, count() AS produced_rows, toUInt8(1) AS known FROM {db}.concepts FINAL
    UNION ALL
    SELECT 'concept-graph' AS stage, toUInt64(0) AS dlq_rows, count() AS produced_rows, toUInt8(1) AS known FROM {db}.pairs FINAL
    UNION ALL
    SELECT 'problem-synth' AS stage, toUInt64(0) AS dlq_rows, count() AS produced_rows, toUInt8(1) AS known FROM {db}.candidates FINAL
    UNION ALL
    SELECT 'judge' AS stage, toUInt64(0) AS dlq_rows, count() AS produced_rows, toUInt8(1) AS known FROM {db}.verdicts FINAL
)
GROUP BY stage
HAVING dead_letters > 0
ORDER BY stage
