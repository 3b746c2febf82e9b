/**
 * The analytics SQL files and how they are filled: every figure's query exists, reads only tables
 * the migrations create and reads them with FINAL, avoids what ClickHouse 18.16 lacks, and has its
 * placeholders filled safely (identifiers validated, strings escaped, numbers checked).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ANALYTICS_DIR, AnalyticsQueryError, NEWEST_JUDGE_CONFIG, QUERY_NAMES, readQueries, renderQuery, sqlString, stripSql, tablesOf } from '../../../services/analytics/queries.ts';
import { REPO_ROOT } from '../../../services/runtime/config.ts';

const queries = readQueries();
const created = new Set(
  fs
    .readdirSync(path.join(REPO_ROOT, 'deploy', 'clickhouse'))
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .flatMap((f) => [...fs.readFileSync(path.join(REPO_ROOT, 'deploy', 'clickhouse', f), 'utf8').matchAll(/CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)/g)].map((m) => m[1]!)),
);
const params = { db: 'grip_x', judgeConfig: 'j-1', bucketSeconds: 60, embeddingsModel: 'm', limit: 10 };

describe('deploy/clickhouse/analytics', () => {
  it('has one file per query the runner reads, and no stray SQL file', () => {
    const files = fs.readdirSync(ANALYTICS_DIR).filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, '')).sort();
    expect(files).toEqual([...QUERY_NAMES].sort());
    expect(fs.existsSync(path.join(ANALYTICS_DIR, 'README.md'))).toBe(true);
  });

  it.each(QUERY_NAMES)('%s reads only migrated tables, each with FINAL', (name) => {
    const sql = stripSql(queries[name]);
    const tables = tablesOf(sql);
    expect(tables.length).toBeGreaterThan(0);
    for (const t of tables) expect(created.has(t), `${name}: table ${t} is created by a migration`).toBe(true);
    for (const m of sql.matchAll(/\{db\}\.(\w+)(\s+FINAL)?/g)) expect(m[2], `${name}: {db}.${m[1]} read with FINAL`).toBeDefined();
  });

  it.each(QUERY_NAMES)('%s avoids what ClickHouse 18.16 lacks (window functions, WITH subqueries, LowCardinality, query parameters)', (name) => {
    const sql = stripSql(queries[name]);
    expect(sql).not.toMatch(/\bOVER\s*\(/i);
    expect(sql).not.toMatch(/\bWITH\s+\w+\s+AS\s*\(/i);
    expect(sql).not.toMatch(/LowCardinality|DateTime64|\bMap\(|\{\w+:\w+\}/);
    expect(sql).not.toMatch(/;/);
    // An aggregate aliased with a column's own name breaks 18.16 ("found inside another aggregate").
    for (const m of sql.matchAll(/\b(?:sum|count|avg|max|min)\((\w+)\)\s+AS\s+(\w+)/g)) expect(m[2], `${name}: ${m[0]}`).not.toBe(m[1]);
  });

  it('fills every placeholder, validates the database name and escapes strings', () => {
    for (const name of QUERY_NAMES) expect(renderQuery(name, queries[name], params)).not.toMatch(/\{[a-z_]+\}/);
    expect(renderQuery('q', 'SELECT 1 FROM {db}.t FINAL WHERE j = {judge_config}', { db: 'grip' })).toBe(`SELECT 1 FROM grip.t FINAL WHERE j = ${NEWEST_JUDGE_CONFIG.replaceAll('{db}', 'grip')}`);
    expect(() => renderQuery('q', 'SELECT 1 FROM {db}.t', { db: 'grip; DROP TABLE x' })).toThrowError(AnalyticsQueryError);
    expect(() => renderQuery('q', 'SELECT {nope}', { db: 'grip' })).toThrowError(/unknown placeholder \{nope\}/);
    expect(() => renderQuery('q', 'SELECT {bucket_seconds}', { db: 'grip' })).toThrowError(/needs bucketSeconds/);
    expect(() => renderQuery('q', 'SELECT {bucket_seconds}', { db: 'grip', bucketSeconds: 1.5 })).toThrowError(/positive integer/);
    expect(renderQuery('q', 'SELECT {judge_config}', { db: 'grip', judgeConfig: "x' OR 1 = 1 --\\" })).toBe("SELECT 'x\\' OR 1 = 1 --\\\\'");
    expect(sqlString("it's")).toBe("'it\\'s'");
  });

  it('strips whole-line comments and the final semicolon only', () => {
    expect(stripSql("-- a comment\nSELECT '--x' -- tail\nFROM t;\n")).toBe("SELECT '--x' -- tail\nFROM t");
  });
});
