-- Backward part of 0003: drops the similarity rows (the backfill recomputes them).
DROP TABLE IF EXISTS {db}.seed_similarity;
