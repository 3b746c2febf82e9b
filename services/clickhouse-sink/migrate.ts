/**
 * Applies deploy/clickhouse/ migrations to the configured database (`grip db migrate`).
 *
 * State lives in `<db>.schema_migrations`, a ReplacingMergeTree keyed by name: applying inserts
 * (name, checksum, applied_at, applied=1), rolling back inserts applied=0 with a higher version,
 * and readers use FINAL. Append-only, so it needs no ALTER ... DELETE (asynchronous mutations on
 * 18.16) and works the same on 18.16 and current releases.
 *
 * ClickHouse has no transactional DDL: a migration that fails half-way leaves its earlier
 * statements applied and is not recorded, so migrations are written re-runnable (IF NOT EXISTS /
 * IF EXISTS) and the next run repeats it. Two runners at once are not coordinated: run one.
 */
import { parseArgs } from 'node:util';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { loadConfig, type GripConfig } from '../runtime/config.ts';
import {
  MIGRATIONS_DIR,
  MigrationError,
  planMigrations,
  readMigrationFiles,
  splitStatements,
  substituteDatabase,
  type AppliedMigration,
} from './migration-files.ts';

export { MigrationError } from './migration-files.ts';

export interface MigrateOptions {
  /** Target migration (`0002` or `0002_name`); `0` with `down` rolls everything back. */
  to?: string;
  /** Roll back instead of applying: the newest applied migration, or every one above `to`. */
  down?: boolean;
  /** Folder of migration files (tests); defaults to deploy/clickhouse/. */
  dir?: string;
  log?: (line: string) => void;
}

export interface MigrateResult {
  database: string;
  applied: string[];
  rolledBack: string[];
  /** Names applied after this run, in order. */
  current: string[];
}

type ClickHouseSettings = GripConfig['clickhouse'];

function bookkeepingTable(database: string): string {
  return substituteDatabase(
    `CREATE TABLE IF NOT EXISTS {db}.schema_migrations
(
    name String,
    checksum String,
    applied_at DateTime('UTC'),
    applied UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY name`,
    database,
  );
}

async function readApplied(client: ClickHouseClient, database: string): Promise<{ applied: AppliedMigration[]; maxVersion: number }> {
  const result = await client.query({
    query: `SELECT name, checksum, toString(applied_at) AS applied_at, applied, toString(version) AS version FROM ${database}.schema_migrations FINAL ORDER BY name`,
    format: 'JSONEachRow',
  });
  const rows = await result.json<{ name: string; checksum: string; applied_at: string; applied: number; version: string }>();
  return {
    applied: rows.filter((r) => Number(r.applied) === 1).map(({ name, checksum, applied_at }) => ({ name, checksum, applied_at })),
    maxVersion: rows.reduce((max, r) => Math.max(max, Number(r.version)), 0),
  };
}

function utcDateTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** Creates the database if missing, then applies (or rolls back) migrations; idempotent. */
export async function migrate(settings: ClickHouseSettings, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const log = opts.log ?? (() => {});
  const database = settings.database;
  substituteDatabase('', database); // validates the name before it is spliced into any statement
  const migrations = readMigrationFiles(opts.dir ?? MIGRATIONS_DIR);
  // No `database` on the client: it may not exist yet; every statement names it.
  const client = createClient({
    url: settings.url,
    username: settings.username,
    password: settings.password,
    log: { level: ClickHouseLogLevel.OFF }, // errors are re-thrown as MigrationError naming the file
  });
  try {
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    await client.command({ query: bookkeepingTable(database) });
    const { applied, maxVersion } = await readApplied(client, database);
    const steps = planMigrations(migrations, applied, opts);
    let version = Math.max(maxVersion + 1, Date.now());
    const result: MigrateResult = { database, applied: [], rolledBack: [], current: [] };
    for (const { direction, migration } of steps) {
      const sql = direction === 'up' ? migration.up : migration.down!;
      const statements = splitStatements(substituteDatabase(sql, database));
      log(`${direction === 'up' ? 'applying' : 'rolling back'} ${migration.name} (${statements.length} statements) on ${database}`);
      for (const [i, statement] of statements.entries()) {
        try {
          await client.command({ query: statement });
        } catch (error) {
          throw new MigrationError(`${migration.file}${direction === 'down' ? ' (down)' : ''}: statement ${i + 1} failed: ${(error as Error).message.trim()}`);
        }
      }
      await client.insert({
        table: `${database}.schema_migrations`,
        format: 'JSONEachRow',
        values: [{ name: migration.name, checksum: migration.checksum, applied_at: utcDateTime(Date.now()), applied: direction === 'up' ? 1 : 0, version: version++ }],
      });
      (direction === 'up' ? result.applied : result.rolledBack).push(migration.name);
    }
    result.current = (await readApplied(client, database)).applied.map((a) => a.name);
    if (steps.length === 0) log(`${database}: nothing to do (applied: ${result.current.join(', ') || 'none'})`);
    return result;
  } finally {
    await client.close();
  }
}

export const MIGRATE_USAGE = 'usage: grip db migrate [--to NNNN] [--down] [--dir DIR]';

/**
 * `grip db migrate [--to NNNN] [--down] [--dir DIR]`, for the CLI to call with the arguments after
 * `migrate`. Prints progress and errors; returns the process exit code (0 ok, 1 failed, 2 usage).
 */
export async function runMigrateCommand(
  args: string[],
  deps: { config?: GripConfig; out?: (line: string) => void; err?: (line: string) => void } = {},
): Promise<number> {
  const out = deps.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = deps.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  let values: { to?: string; down?: boolean; dir?: string };
  try {
    ({ values } = parseArgs({ args, options: { to: { type: 'string' }, down: { type: 'boolean' }, dir: { type: 'string' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    err(`${(error as Error).message}\n${MIGRATE_USAGE}`);
    return 2;
  }
  try {
    const config = deps.config ?? loadConfig();
    const result = await migrate(config.clickhouse, { ...values, log: out });
    out(`${result.database}: applied ${result.applied.length}, rolled back ${result.rolledBack.length}; current: ${result.current.join(', ') || 'none'}`);
    return 0;
  } catch (error) {
    err(`grip db migrate: ${(error as Error).message}`);
    return 1;
  }
}
