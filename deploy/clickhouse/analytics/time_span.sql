-- First and last created_at (Unix seconds) over combinations and verdicts: the runner picks the time
-- series' bucket size from it (0 and 0 when both tables are empty).
SELECT
    min(t) AS first_at,
    max(t) AS last_at
FROM
(
    SELECT toUInt32(created_at) AS t FROM {db}.pairs FINAL
    UNION ALL
    SELECT toUInt32(created_at) AS t FROM {db}.verdicts FINAL
)
