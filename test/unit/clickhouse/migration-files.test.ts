import { describe, expect, it } from 'vitest';
import {
  MigrationError,
  migrationChecksum,
  parseMigrationFiles,
  planMigrations,
  readMigrationFiles,
  splitStatements,
  substituteDatabase,
  type AppliedMigration,
} from '../../../services/clickhouse-sink/migration-files.ts';

describe('splitStatements', () => {
  it('splits on ; at the end of a line and drops comment-only chunks', () => {
    const sql = '-- header\nCREATE TABLE a (x String)\nENGINE = Memory;\n\n-- between\nDROP TABLE b;  \nSELECT 1';
    expect(splitStatements(sql)).toEqual(['CREATE TABLE a (x String)\nENGINE = Memory', 'DROP TABLE b', 'SELECT 1']);
  });

  it('keeps a ; inside a line (e.g. in a string) and handles CRLF', () => {
    expect(splitStatements("SELECT 'a;b' AS x;\r\nSELECT 2;\r\n")).toEqual(["SELECT 'a;b' AS x", 'SELECT 2']);
  });

  it('a file of comments only has no statements', () => {
    expect(splitStatements('-- nothing\n  -- here\n')).toEqual([]);
  });

  it('the repository migrations split into their CREATE / DROP statements', () => {
    const [first] = readMigrationFiles();
    expect(first!.name).toBe('0001_pipeline_tables');
    const up = splitStatements(first!.up);
    expect(up).toHaveLength(5);
    for (const s of up) expect(s).toMatch(/^CREATE TABLE IF NOT EXISTS \{db\}\.\w+\s*\(/);
    expect(splitStatements(first!.down!)).toEqual(['verdicts', 'candidates', 'pairs', 'concepts', 'seeds'].map((t) => `DROP TABLE IF EXISTS {db}.${t}`));
  });
});

describe('substituteDatabase', () => {
  it('replaces {db} and refuses names that are not identifiers', () => {
    expect(substituteDatabase('CREATE TABLE {db}.t', 'grip_x')).toBe('CREATE TABLE grip_x.t');
    expect(() => substituteDatabase('x', 'grip; DROP')).toThrowError(/database name must be an identifier/);
  });
});

const files = (...names: string[]) => names.map((file) => ({ file: `/m/${file}`, text: `-- ${file}\nSELECT 1;\n` }));

describe('parseMigrationFiles', () => {
  it('orders by number and pairs backward parts', () => {
    const parsed = parseMigrationFiles(files('0002_b.sql', '0001_a.sql', '0001_a.down.sql', 'README.md'));
    expect(parsed.map((m) => [m.name, m.number, m.down !== null])).toEqual([
      ['0001_a', 1, true],
      ['0002_b', 2, false],
    ]);
    expect(parsed[0]!.checksum).toBe(migrationChecksum('-- 0001_a.sql\nSELECT 1;\n'));
  });

  it('rejects misnamed files, duplicate numbers and orphan backward parts', () => {
    expect(() => parseMigrationFiles(files('1_a.sql'))).toThrowError(/\/m\/1_a\.sql: migration files are named NNNN_name\.sql/);
    expect(() => parseMigrationFiles(files('0001_a.sql', '0001_b.sql'))).toThrowError(/share the number 0001/);
    expect(() => parseMigrationFiles(files('0003_c.down.sql'))).toThrowError(/backward part without a forward file 0003_c\.sql/);
  });

  it('checksums ignore CRLF vs LF', () => {
    expect(migrationChecksum('a;\r\nb;\r\n')).toBe(migrationChecksum('a;\nb;\n'));
  });
});

describe('planMigrations', () => {
  const migrations = parseMigrationFiles(files('0001_a.sql', '0001_a.down.sql', '0002_b.sql', '0002_b.down.sql', '0003_c.sql'));
  const applied = (...names: string[]): AppliedMigration[] =>
    names.map((name) => ({ name, checksum: migrations.find((m) => m.name === name)!.checksum, applied_at: '2026-11-24 12:00:00' }));
  const plan = (a: AppliedMigration[], opts = {}) => planMigrations(migrations, a, opts).map((s) => `${s.direction}:${s.migration.name}`);

  it('applies pending migrations in order, up to --to', () => {
    expect(plan([])).toEqual(['up:0001_a', 'up:0002_b', 'up:0003_c']);
    expect(plan(applied('0001_a'))).toEqual(['up:0002_b', 'up:0003_c']);
    expect(plan([], { to: '0002' })).toEqual(['up:0001_a', 'up:0002_b']);
    expect(plan(applied('0001_a', '0002_b', '0003_c'))).toEqual([]);
  });

  it('rolls back the newest, or everything above --to, newest first', () => {
    expect(plan(applied('0001_a', '0002_b'), { down: true })).toEqual(['down:0002_b']);
    expect(plan(applied('0001_a', '0002_b'), { down: true, to: '0' })).toEqual(['down:0002_b', 'down:0001_a']);
    expect(() => plan(applied('0001_a', '0002_b', '0003_c'), { down: true })).toThrowError(/0003_c\.sql has no backward part/);
  });

  it('refuses an applied migration whose file changed, naming the file', () => {
    const changed = [{ name: '0001_a', checksum: 'f'.repeat(64), applied_at: '2026-11-24 12:00:00' }];
    expect(() => plan(changed)).toThrowError(MigrationError);
    expect(() => plan(changed)).toThrowError(/\/m\/0001_a\.sql was changed after it was applied/);
  });

  it('refuses an applied migration with no file, and an unknown target', () => {
    expect(() => plan([{ name: '0009_z', checksum: 'x', applied_at: 'now' }])).toThrowError(/0009_z was applied .* its file is missing/);
    expect(() => plan([], { to: '0007' })).toThrowError(/no migration numbered 0007/);
    expect(() => plan([], { to: 'latest' })).toThrowError(/--to: expected a migration number/);
  });
});
