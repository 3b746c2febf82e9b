/**
 * Invariants of the pipeline's results (issue 10, item 2), checked against the ClickHouse tables
 * after an end-to-end or fault test. What must hold for the user after any crash, redelivery,
 * scale-out or replay:
 * - every seed stored once and accounted for (concepts, or a dead letter with a reason);
 * - at most one concepts row per seed, one candidate per combination, one verdict per candidate,
 *   for one prompt/model/judge configuration;
 * - no verdict that is a duplicate of itself; no accepted verdict lost (also across restarts:
 *   `acceptedVerdicts` before, `lostAccepted` after);
 * - every dead letter in `dead_letters` with its stage and reason (`missingDeadLetters`, against
 *   the records of the DLQ topics up to their end offsets).
 * The SQL is in invariants.sql (one block per check, runnable by hand with {db} replaced); it runs on
 * ClickHouse 18.16 and current releases. Each check returns the violating rows: none means it holds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { loadTopics } from '../../schemas/catalog.ts';
import { deadLetterRow } from '../../services/clickhouse-sink/rows.ts';
import { readLog, type InRecord, type KafkaTransport, type Serde } from '../../services/runtime/kafka/index.ts';

export const INVARIANTS_SQL = path.join(path.dirname(fileURLToPath(import.meta.url)), 'invariants.sql');

export interface InvariantCheck {
  name: string;
  description: string;
  /** The query with `{db}` in place of the database. */
  sql: string;
}

export interface Violation {
  check: string;
  description: string;
  rows: Array<Record<string, unknown>>;
}

const IDENTIFIER_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The checks of invariants.sql, in file order. */
export function invariantChecks(file = INVARIANTS_SQL): InvariantCheck[] {
  const blocks = fs.readFileSync(file, 'utf8').split(/^-- check: /m).slice(1);
  return blocks.map((block) => {
    const [header = '', ...rest] = block.split('\n');
    const description = (rest.find((l) => l.startsWith('-- ')) ?? '').replace(/^-- /, '');
    const sql = rest.filter((l) => !l.trim().startsWith('--')).join('\n').trim().replace(/;\s*$/, '');
    if (!sql) throw new Error(`${file}: check ${header.trim()} has no query`);
    return { name: header.trim(), description, sql };
  });
}

function inDatabase(sql: string, database: string): string {
  if (!IDENTIFIER_RE.test(database)) throw new Error(`invariants: database must be an identifier, got ${JSON.stringify(database)}`);
  return sql.replaceAll('{db}', database);
}

async function select(ch: ClickHouseClient, query: string): Promise<Array<Record<string, unknown>>> {
  const rs = await ch.query({ query, format: 'JSONEachRow' });
  return rs.json<Record<string, unknown>>();
}

/** Runs every check of invariants.sql; returns the ones violated, with (up to `limit`) violating rows each. */
export async function checkInvariants(ch: ClickHouseClient, database: string, opts: { limit?: number } = {}): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const check of invariantChecks()) {
    const rows = await select(ch, `${inDatabase(check.sql, database)} LIMIT ${opts.limit ?? 20}`);
    if (rows.length > 0) violations.push({ check: check.name, description: check.description, rows });
  }
  return violations;
}

/** A string literal for ClickHouse SQL (18.16 has no query parameters). */
export function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Ids of the verdicts accepted now (latest version of each row): take it before a restart or fault. */
export async function acceptedVerdicts(ch: ClickHouseClient, database: string): Promise<string[]> {
  const rows = await select(ch, inDatabase('SELECT verdict_id FROM {db}.verdicts FINAL WHERE accepted = 1 ORDER BY verdict_id', database));
  return rows.map((r) => String(r.verdict_id));
}

/** Of the verdicts accepted in an earlier snapshot, those no longer accepted (or gone). */
export async function lostAccepted(ch: ClickHouseClient, database: string, before: readonly string[]): Promise<Violation[]> {
  if (before.length === 0) return [];
  const still = new Set<string>();
  for (let i = 0; i < before.length; i += 1000) {
    const list = before.slice(i, i + 1000).map(sqlString).join(',');
    const rows = await select(ch, inDatabase(`SELECT verdict_id FROM {db}.verdicts FINAL WHERE accepted = 1 AND verdict_id IN (${list})`, database));
    for (const r of rows) still.add(String(r.verdict_id));
  }
  const lost = before.filter((id) => !still.has(id));
  return lost.length === 0 ? [] : [{ check: 'accepted_not_lost', description: 'A verdict accepted before is no longer accepted (or is gone).', rows: lost.map((verdict_id) => ({ verdict_id })) }];
}

/** A dead letter as the DLQ topic holds it: where it is, and the id its row must have. */
export interface DeadLetterRecord {
  dlq_topic: string;
  partition: number;
  offset: string;
  dlq_id: string;
}

export function deadLetterRecordOf(record: InRecord): DeadLetterRecord {
  const row = deadLetterRow({ dlqTopic: record.topic, key: record.key, value: record.value, headers: record.headers, timestamp: Number(record.timestamp) });
  return { dlq_topic: record.topic, partition: record.partition, offset: String(record.offset), dlq_id: row.dlq_id };
}

/** Every record of every DLQ topic, up to the end offsets seen now. */
export async function readDeadLetterRecords(transport: KafkaTransport, serde: Serde): Promise<DeadLetterRecord[]> {
  const out: DeadLetterRecord[] = [];
  for (const spec of loadTopics().values()) {
    const reader = await readLog<InRecord>({ transport, serde, topic: spec.dlq, name: 'invariants-dlq', decode: async (r) => r, onValue: (r) => void out.push(deadLetterRecordOf(r)) });
    await reader.done;
  }
  return out;
}

/** Dead letters in the DLQ topics that have no row (with that id) in dead_letters. */
export async function missingDeadLetters(ch: ClickHouseClient, database: string, records: readonly DeadLetterRecord[]): Promise<Violation[]> {
  const stored = new Set<string>();
  const ids = [...new Set(records.map((r) => r.dlq_id))];
  for (let i = 0; i < ids.length; i += 1000) {
    const list = ids.slice(i, i + 1000).map(sqlString).join(',');
    const rows = await select(ch, inDatabase(`SELECT DISTINCT dlq_id FROM {db}.dead_letters WHERE dlq_id IN (${list})`, database));
    for (const r of rows) stored.add(String(r.dlq_id));
  }
  const missing = records.filter((r) => !stored.has(r.dlq_id));
  return missing.length === 0 ? [] : [{ check: 'dead_letter_visible', description: 'A record of a DLQ topic has no row in dead_letters.', rows: missing.map((r) => ({ ...r })) }];
}

/** One line per violation, for an assertion message. */
export function describeViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `${v.check}: ${v.description} ${JSON.stringify(v.rows.slice(0, 5))}`).join('\n');
}
