-- Backward part of 0001: drops the pipeline's tables and their data.
DROP TABLE IF EXISTS {db}.verdicts;
DROP TABLE IF EXISTS {db}.candidates;
DROP TABLE IF EXISTS {db}.pairs;
DROP TABLE IF EXISTS {db}.concepts;
DROP TABLE IF EXISTS {db}.seeds;
