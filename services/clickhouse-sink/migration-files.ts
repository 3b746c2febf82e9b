/**
 * Migration files and the plan of what to run: pure functions (reading the folder aside), so the
 * rules — naming, ordering, checksums, statement splitting — are unit-tested without ClickHouse.
 *
 * Layout (deploy/clickhouse/): `NNNN_name.sql` is the forward part of migration NNNN;
 * `NNNN_name.down.sql`, when present, is its backward part. `{db}` in either is replaced by the
 * configured database. Statements end with `;` at the end of a line (trailing spaces allowed);
 * whole-line `--` comments are removed. A `;` that ends a line inside a string literal would split
 * that literal: migrations must not contain one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { sha256Hex } from '../../core/util/hash.ts';
import { REPO_ROOT } from '../runtime/config.ts';

export const MIGRATIONS_DIR = path.join(REPO_ROOT, 'deploy', 'clickhouse');

const FORWARD_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;
const BACKWARD_RE = /^(\d{4})_([a-z0-9_]+)\.down\.sql$/;
const IDENTIFIER_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export interface MigrationFile {
  /** File name without `.sql`, e.g. `0001_pipeline_tables`: the key in schema_migrations. */
  name: string;
  number: number;
  /** Path of the forward file, for messages. */
  file: string;
  up: string;
  /** Backward SQL, or null when the migration cannot be rolled back. */
  down: string | null;
  /** SHA-256 of the forward file (line endings normalized): what "changed after applied" compares. */
  checksum: string;
}

export interface AppliedMigration {
  name: string;
  checksum: string;
  applied_at: string;
}

export type MigrationStep = { direction: 'up' | 'down'; migration: MigrationFile };

/** Normalizes line endings so a checkout with CRLF does not look like an edited migration. */
export function migrationChecksum(sql: string): string {
  return sha256Hex(sql.replace(/\r\n/g, '\n'));
}

/** Splits a migration into statements: one per `;` at the end of a line; comment-only chunks dropped. */
export function splitStatements(sql: string): string[] {
  return sql
    .replace(/\r\n/g, '\n')
    .split(/;[ \t]*(?:\n|$)/)
    .map((chunk) =>
      chunk
        .split('\n')
        .filter((line) => !/^\s*--/.test(line))
        .join('\n')
        .trim(),
    )
    .filter((statement) => statement.length > 0);
}

/** Replaces `{db}` by the database name, which must be a plain identifier (it is spliced into SQL). */
export function substituteDatabase(sql: string, database: string): string {
  if (!IDENTIFIER_RE.test(database)) throw new MigrationError(`database name must be an identifier, got ${JSON.stringify(database)}`);
  return sql.replaceAll('{db}', database);
}

/** Parses a folder listing plus file contents into ordered migrations; rejects misnamed files and duplicate numbers. */
export function parseMigrationFiles(files: Array<{ file: string; text: string }>): MigrationFile[] {
  const forward = new Map<string, MigrationFile>();
  const backward = new Map<string, { file: string; text: string }>();
  for (const { file, text } of files) {
    const base = path.basename(file);
    if (!base.endsWith('.sql')) continue;
    const down = BACKWARD_RE.exec(base);
    if (down) {
      backward.set(`${down[1]}_${down[2]}`, { file, text });
      continue;
    }
    const up = FORWARD_RE.exec(base);
    if (!up) throw new MigrationError(`${file}: migration files are named NNNN_name.sql or NNNN_name.down.sql (lower case, digits, _)`);
    const name = `${up[1]}_${up[2]}`;
    forward.set(name, { name, number: Number(up[1]), file, up: text, down: null, checksum: migrationChecksum(text) });
  }
  for (const [name, { file }] of backward) {
    const migration = forward.get(name);
    if (!migration) throw new MigrationError(`${file}: backward part without a forward file ${name}.sql`);
    migration.down = backward.get(name)!.text;
  }
  const ordered = [...forward.values()].sort((a, b) => a.number - b.number);
  for (let i = 1; i < ordered.length; i++) {
    if (ordered[i]!.number === ordered[i - 1]!.number) {
      throw new MigrationError(`${ordered[i - 1]!.file} and ${ordered[i]!.file} share the number ${ordered[i]!.name.slice(0, 4)}`);
    }
  }
  return ordered;
}

export function readMigrationFiles(dir: string = MIGRATIONS_DIR): MigrationFile[] {
  if (!fs.existsSync(dir)) throw new MigrationError(`migrations folder ${dir} does not exist`);
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .map((f) => ({ file: path.join(dir, f), text: fs.readFileSync(path.join(dir, f), 'utf8') }));
  return parseMigrationFiles(files);
}

/** `to` as a migration number: `3`, `0003` or `0003_name`; `0` means "before the first". */
export function parseTarget(to: string | undefined, migrations: MigrationFile[]): number | undefined {
  if (to === undefined) return undefined;
  const match = /^(\d{1,4})(?:_[a-z0-9_]+)?$/.exec(to.trim());
  if (!match) throw new MigrationError(`--to: expected a migration number or name like 0002 or 0002_name, got ${JSON.stringify(to)}`);
  const number = Number(match[1]);
  if (number !== 0 && !migrations.some((m) => m.number === number)) {
    throw new MigrationError(`--to: no migration numbered ${match[1]} (known: ${migrations.map((m) => m.name).join(', ') || 'none'})`);
  }
  if (to.includes('_') && !migrations.some((m) => m.name === to.trim())) {
    throw new MigrationError(`--to: no migration named ${to.trim()}`);
  }
  return number;
}

/**
 * What to run. Up: every pending migration up to `to` (inclusive), in order. Down: applied
 * migrations above `to`, newest first; without `to`, only the newest. Before any plan, applied
 * migrations are checked against the files: a changed checksum or a missing file stops everything.
 */
export function planMigrations(
  migrations: MigrationFile[],
  applied: AppliedMigration[],
  opts: { to?: string; down?: boolean } = {},
): MigrationStep[] {
  const byName = new Map(migrations.map((m) => [m.name, m]));
  for (const a of applied) {
    const file = byName.get(a.name);
    if (!file) {
      throw new MigrationError(`migration ${a.name} was applied (${a.applied_at}) but its file is missing: the database is newer than this code`);
    }
    if (file.checksum !== a.checksum) {
      throw new MigrationError(
        `${file.file} was changed after it was applied (${a.applied_at}; applied checksum ${a.checksum.slice(0, 12)}, file now ${file.checksum.slice(0, 12)}). ` +
          'Restore it and add a new migration instead.',
      );
    }
  }
  const appliedNames = new Set(applied.map((a) => a.name));
  const target = parseTarget(opts.to, migrations);
  if (opts.down) {
    const rollback = migrations.filter((m) => appliedNames.has(m.name)).reverse();
    const chosen = target === undefined ? rollback.slice(0, 1) : rollback.filter((m) => m.number > target);
    for (const m of chosen) if (m.down === null) throw new MigrationError(`${m.file} has no backward part (${m.name}.down.sql): cannot roll it back`);
    return chosen.map((migration) => ({ direction: 'down', migration }));
  }
  return migrations
    .filter((m) => !appliedNames.has(m.name) && (target === undefined || m.number <= target))
    .map((migration) => ({ direction: 'up', migration }));
}
