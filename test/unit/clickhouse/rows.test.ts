import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadExamples } from '../../../schemas/catalog.ts';
import { REPO_ROOT } from '../../../services/runtime/config.ts';
import { conceptsRow, rowFor, RowMappingError, seedRow, TOPIC_TABLES, verdictRow, type SinkTopic } from '../../../services/clickhouse-sink/rows.ts';

/**
 * Column names of each table, read from the forward migrations themselves (CREATE TABLE, then
 * ALTER TABLE ... ADD COLUMN in file order) so that mappers and schema cannot drift apart.
 */
function tableColumns(): Map<string, string[]> {
  const dir = path.join(REPO_ROOT, 'deploy', 'clickhouse');
  const files = fs.readdirSync(dir).filter((f) => /^\d{4}_.*(?<!\.down)\.sql$/.test(f)).sort();
  const tables = new Map<string, string[]>();
  for (const file of files) {
    const sql = fs.readFileSync(path.join(dir, file), 'utf8');
    for (const match of sql.matchAll(/CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)\s*\(([\s\S]*?)\)\s*ENGINE/g)) {
      const columns = match[2]!
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line && !line.startsWith('--'))
        .map((line) => line.split(/\s+/)[0]!);
      tables.set(match[1]!, columns);
    }
    for (const match of sql.matchAll(/ALTER TABLE \{db\}\.(\w+) ADD COLUMN (\w+)/g)) tables.get(match[1]!)?.push(match[2]!);
  }
  return tables;
}

const TOPICS = Object.keys(TOPIC_TABLES) as SinkTopic[];

describe('row mappers: every example message', () => {
  const columns = tableColumns();

  it('the migrations declare a table for every topic, and the dead letters table', () => {
    for (const table of [...Object.values(TOPIC_TABLES), 'dead_letters']) expect([...columns.keys()], table).toContain(table);
  });

  for (const topic of TOPICS) {
    for (const { name, value } of loadExamples(topic)) {
      it(`${topic}/${name}: row has exactly the table's columns, flattened consistently`, () => {
        const { table, row } = rowFor(topic, value);
        expect(table).toBe(TOPIC_TABLES[topic]);
        expect(Object.keys(row).sort()).toEqual([...columns.get(table)!].sort());
        const r = row as unknown as Record<string, unknown>;
        // version is the message's own timestamp, and the DateTime column the same instant in UTC
        const ms = topic === 'grip.seeds' ? value.ingested_at : value.created_at;
        expect(r.version).toBe(ms);
        const dt = (topic === 'grip.seeds' ? r.ingested_at : r.created_at) as string;
        expect(dt).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
        expect(Date.parse(`${dt.replace(' ', 'T')}Z`)).toBe(Math.floor(ms / 1000) * 1000);
        // booleans are 0/1, never true/false
        for (const v of Object.values(r)) expect(typeof v).not.toBe('boolean');
        if (topic !== 'grip.seeds') {
          expect(r.lineage_seed_ids).toEqual(value.lineage.seed_ids);
          expect(r.lineage_call_ids).toEqual(value.lineage.steps.map((s: { call_id: string }) => s.call_id));
          expect((r.lineage_stages as string[]).length).toBe(value.lineage.steps.length);
          expect((r.lineage_models as string[]).length).toBe(value.lineage.steps.length);
        }
        // deterministic: the same message maps to the same row
        expect(rowFor(topic, structuredClone(value)).row).toEqual(row);
      });
    }
  }
});

describe('row mappers: exact rows', () => {
  it('seed', () => {
    const [{ value }] = loadExamples('grip.seeds');
    expect(seedRow(value)).toEqual({
      seed_id: 'seed-3f1c2a9b7d4e5f60',
      problem: value.problem,
      solution: value.solution,
      source: 'math/train.jsonl',
      source_id: 'train/algebra/1.json',
      ingested_at: '2026-11-24 12:00:00',
      version: 1795521600000,
    });
  });

  it('concepts: kcs, dropped and lineage steps become parallel arrays', () => {
    const [{ value }] = loadExamples('grip.concepts');
    const row = conceptsRow(value);
    expect(row).toMatchObject({
      seed_id: 'seed-3f1c2a9b7d4e5f60',
      concepts_id: 'extract-8a1d0c47e2b95f3a6c7d1e20',
      kc_ids: ['kc-5b2e8f1a9c3d7e40', 'kc-c41d9e2f7a6b3018'],
      kc_names: ['distance formula', 'pythagorean theorem'],
      kc_raw_names: ['Distance formula', "Pythagoras' theorem"],
      kc_outcomes: ['exact', 'synonym'],
      kc_similarities: [1, 0.83],
      dropped_raw_names: ['adding numbers'],
      dropped_reasons: ['a skill, not a concept'],
      lineage_combo_id: null,
      lineage_stages: ['extract', 'filter', 'synonym'],
      lineage_models: ['Qwen2.5-32B-Instruct', 'Qwen2.5-7B-Instruct', 'Qwen2.5-7B-Instruct'],
      lineage_prompt_versions: ['p-1a2b3c4d', 'p-5e6f7a8b', 'p-9c0d1e2f'],
      created_at: '2026-11-24 12:00:01',
      version: 1795521601500,
    });
  });

  it('verdict: judges flattened, skipped calls stay null, booleans 0/1', () => {
    const vetoed = loadExamples('grip.verdicts').find((e) => e.name === 'vetoed.json')!.value;
    expect(verdictRow(vetoed)).toMatchObject({
      verdict_id: 'verdict-1a2b3c4d5e6f708192a3b4c5',
      accepted: 0,
      novel: 1,
      reason: 'solution_vetoed_by:judge_1',
      judge_names: ['judge_1', 'judge_2', 'judge_3'],
      judge_weights: [0.4, 0.35, 0.25],
      judge_problem_scores: [0.95, 0.9, 0.94],
      judge_solution_votes: [0, null, null],
      calls_made: 4,
      calls_saved: 2,
      hop: 3,
      kc_names: ['lattice point', 'distance formula'],
      lineage_stages: [],
      created_at: '2026-11-24 12:00:30',
    });
  });
});

describe('row mappers: bad values are named', () => {
  const verdict = () => structuredClone(loadExamples('grip.verdicts')[0]!.value);

  it('rejects a hop out of UInt8 range', () => {
    const v = verdict();
    v.hop = 300;
    expect(() => verdictRow(v)).toThrowError(/grip\.verdicts verdict-9f8e7d6c5b4a3f2e1d0c9b8a: field hop must be an integer in 0\.\.255, got 300/);
  });

  it('rejects a solution vote other than 0, 1 or null', () => {
    const v = verdict();
    v.judges[1].solution_vote = 2;
    expect(() => verdictRow(v)).toThrowError(/field judges\[1\]\.solution_vote/);
  });

  it('rejects a non-finite score and a timestamp outside DateTime', () => {
    const v = verdict();
    v.threshold = Number.NaN;
    expect(() => verdictRow(v)).toThrowError(/field threshold must be a finite number/);
    const w = verdict();
    w.created_at = -1;
    expect(() => verdictRow(w)).toThrowError(/field created_at must be a timestamp/);
  });

  it('rejects a missing id and a missing lineage', () => {
    const v = verdict();
    delete v.verdict_id;
    expect(() => verdictRow(v)).toThrowError(RowMappingError);
    const w = verdict();
    delete w.lineage;
    expect(() => verdictRow(w)).toThrowError(/field lineage must be a record/);
  });

  it('rejects an unknown topic', () => {
    expect(() => rowFor('grip.nope' as SinkTopic, {} as never)).toThrowError(/no table for topic "grip\.nope"/);
  });
});
