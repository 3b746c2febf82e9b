/**
 * Migrations against the real local ClickHouse (18.16 here): from scratch, idempotent re-run,
 * refusal of an edited applied migration, rollback and re-apply, and the CLI entry point.
 * Each test uses its own database grip_it_<time>_<pid>_<n>, dropped afterwards.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient } from '@clickhouse/client';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/runtime/config.ts';
import { migrate, MigrationError, runMigrateCommand } from '../../services/clickhouse-sink/migrate.ts';
import { MIGRATIONS_DIR } from '../../services/clickhouse-sink/migration-files.ts';

const base = loadConfig();
const admin = createClient({ url: base.clickhouse.url, username: base.clickhouse.username, password: base.clickhouse.password });
const created: string[] = [];
let counter = 0;

function freshDatabase() {
  const database = `grip_it_${Date.now()}_${process.pid}_${counter++}`;
  created.push(database);
  return { ...base.clickhouse, database };
}

async function tables(database: string): Promise<string[]> {
  const rs = await admin.query({ query: `SELECT name FROM system.tables WHERE database = '${database}' ORDER BY name`, format: 'JSONEachRow' });
  return (await rs.json<{ name: string }>()).map((r) => r.name);
}

afterAll(async () => {
  for (const db of created) await admin.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  await admin.close();
});

/** The repository's migrations, in order (names without .sql). */
const REPO_MIGRATIONS = fs.readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{4}_.*(?<!\.down)\.sql$/.test(f)).sort().map((f) => f.slice(0, -4));
const NEXT = String(REPO_MIGRATIONS.length + 1).padStart(4, '0');

describe('grip db migrate (real ClickHouse)', () => {
  it('applies every migration from scratch, then a second run is a no-op', async () => {
    const settings = freshDatabase();
    const first = await migrate(settings);
    expect(first.applied).toEqual(REPO_MIGRATIONS);
    expect(REPO_MIGRATIONS[0]).toBe('0001_pipeline_tables');
    expect(await tables(settings.database)).toEqual(expect.arrayContaining(['candidates', 'concepts', 'dead_letters', 'pairs', 'schema_migrations', 'seeds', 'verdicts']));

    const second = await migrate(settings);
    expect(second.applied).toEqual([]);
    expect(second.current).toEqual(REPO_MIGRATIONS);
    const rs = await admin.query({ query: `SELECT count() AS n FROM ${settings.database}.schema_migrations`, format: 'JSONEachRow' });
    expect(Number((await rs.json<{ n: string }>())[0]!.n)).toBe(REPO_MIGRATIONS.length);
  });

  it('refuses to run when an applied migration file changed, naming the file', async () => {
    const settings = freshDatabase();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-migrations-'));
    try {
      for (const f of fs.readdirSync(MIGRATIONS_DIR)) if (f.endsWith('.sql')) fs.copyFileSync(path.join(MIGRATIONS_DIR, f), path.join(dir, f));
      await migrate(settings, { dir });
      const file = path.join(dir, '0001_pipeline_tables.sql');
      fs.appendFileSync(file, '\n-- an innocent-looking edit\n');
      const run = migrate(settings, { dir });
      await expect(run).rejects.toThrowError(MigrationError);
      await expect(migrate(settings, { dir })).rejects.toThrowError(`${file} was changed after it was applied`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('applies a new migration after the first, rolls it back, and re-applies it', async () => {
    const settings = freshDatabase();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-migrations-'));
    try {
      for (const f of fs.readdirSync(MIGRATIONS_DIR)) if (f.endsWith('.sql')) fs.copyFileSync(path.join(MIGRATIONS_DIR, f), path.join(dir, f));
      await migrate(settings, { dir });
      fs.writeFileSync(path.join(dir, `${NEXT}_extra.sql`), '-- test\nALTER TABLE {db}.seeds ADD COLUMN note String DEFAULT \'\';\n');
      fs.writeFileSync(path.join(dir, `${NEXT}_extra.down.sql`), 'ALTER TABLE {db}.seeds DROP COLUMN note;\n');
      const columns = async () => {
        const rs = await admin.query({ query: `SELECT name FROM system.columns WHERE database = '${settings.database}' AND table = 'seeds'`, format: 'JSONEachRow' });
        return (await rs.json<{ name: string }>()).map((r) => r.name);
      };
      expect((await migrate(settings, { dir })).applied).toEqual([`${NEXT}_extra`]);
      expect(await columns()).toContain('note');

      const down = await migrate(settings, { dir, down: true });
      expect(down.rolledBack).toEqual([`${NEXT}_extra`]);
      expect(down.current).toEqual(REPO_MIGRATIONS);
      expect(await columns()).not.toContain('note');

      expect((await migrate(settings, { dir })).applied).toEqual([`${NEXT}_extra`]);
      expect(await columns()).toContain('note');

      const all = await migrate(settings, { dir, down: true, to: '0' });
      expect(all.rolledBack).toEqual([`${NEXT}_extra`, ...[...REPO_MIGRATIONS].reverse()]);
      expect(await tables(settings.database)).toEqual(['schema_migrations']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failing statement names the file and statement, and is not recorded', async () => {
    const settings = freshDatabase();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-migrations-'));
    try {
      fs.writeFileSync(path.join(dir, '0001_bad.sql'), 'CREATE TABLE IF NOT EXISTS {db}.ok (x String) ENGINE = Memory;\nCREATE TABLE {db}.bad (x NoSuchType) ENGINE = Memory;\n');
      await expect(migrate(settings, { dir })).rejects.toThrowError(/0001_bad\.sql: statement 2 failed: .*NoSuchType/);
      const rs = await admin.query({ query: `SELECT count() AS n FROM ${settings.database}.schema_migrations`, format: 'JSONEachRow' });
      expect(Number((await rs.json<{ n: string }>())[0]!.n)).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runMigrateCommand: exit 0 and a summary; exit 2 on a bad flag; exit 1 with the reason', async () => {
    const settings = freshDatabase();
    const config = { ...base, clickhouse: settings };
    const out: string[] = [];
    const err: string[] = [];
    expect(await runMigrateCommand([], { config, out: (l) => out.push(l), err: (l) => err.push(l) })).toBe(0);
    expect(out.join('\n')).toMatch(new RegExp(`${settings.database}: applied ${REPO_MIGRATIONS.length}, rolled back 0; current: ${REPO_MIGRATIONS.join(', ')}`));
    expect(await runMigrateCommand(['--frobnicate'], { config, out: (l) => out.push(l), err: (l) => err.push(l) })).toBe(2);
    expect(err.join('\n')).toMatch(/usage: grip db migrate/);
    expect(await runMigrateCommand(['--to', '0042'], { config, out: (l) => out.push(l), err: (l) => err.push(l) })).toBe(1);
    expect(err.join('\n')).toMatch(/no migration numbered 0042/);
  });
});

describe('grip db migrate (the CLI)', () => {
  it('applies the migrations to the configured database and exits 0, and exits 1 naming the failure when ClickHouse is unreachable', async () => {
    const { spawnSync } = await import('node:child_process');
    const { REPO_ROOT } = await import('../../services/runtime/config.ts');
    const database = `grip_it_cli_${Date.now()}`;
    const grip = (env: Record<string, string>) =>
      spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'grip.mjs'), 'db', 'migrate'], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
    const ok = grip({ CLICKHOUSE_DATABASE: database });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`${database}: applied ${REPO_MIGRATIONS.length}`));
    const again = grip({ CLICKHOUSE_DATABASE: database });
    expect(again.stdout).toMatch(/applied 0/);
    const down = grip({ CLICKHOUSE_DATABASE: database, CLICKHOUSE_URL: 'http://127.0.0.1:1' });
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(/grip db migrate: .*ECONNREFUSED/);
    const client = createClient({ url: loadConfig().clickhouse.url });
    await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await client.close();
  }, 180_000);
});
