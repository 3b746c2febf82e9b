DROP TABLE IF EXISTS {db}.dead_letters;
ALTER TABLE {db}.concepts DROP COLUMN lineage_completion_tokens;
ALTER TABLE {db}.concepts DROP COLUMN lineage_prompt_tokens;
ALTER TABLE {db}.pairs DROP COLUMN lineage_completion_tokens;
ALTER TABLE {db}.pairs DROP COLUMN lineage_prompt_tokens;
ALTER TABLE {db}.candidates DROP COLUMN lineage_completion_tokens;
ALTER TABLE {db}.candidates DROP COLUMN lineage_prompt_tokens;
ALTER TABLE {db}.verdicts DROP COLUMN lineage_completion_tokens;
ALTER TABLE {db}.verdicts DROP COLUMN lineage_prompt_tokens;
