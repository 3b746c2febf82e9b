/**
 * Pure mappers from the pipeline's messages (generated Avro types) to rows of the tables in
 * deploy/clickhouse/0001_pipeline_tables.sql, as JSONEachRow objects.
 *
 * - Arrays of records become parallel arrays (kcs -> kc_ids, kc_names, ...; judges -> judge_*;
 *   lineage steps -> lineage_stages, lineage_models, ...), index i of each being element i.
 * - Booleans become 0/1 (UInt8), timestamps (ms) become 'YYYY-MM-DD hh:mm:ss' in UTC for
 *   DateTime('UTC') columns (accepted by 18.16 and current releases in JSONEachRow).
 * - `version` (the ReplacingMergeTree version) is the message's own timestamp in ms. It is taken
 *   from the message, not from the clock at insert time, so a redelivered identical message yields
 *   a byte-identical row (same key, same version: ReplacingMergeTree keeps one), while a later
 *   re-run of a stage that produced the same id carries a later timestamp and wins. A wall-clock
 *   or insert-counter version would let a stale redelivery win over a newer row.
 * Values out of a column's range throw RowMappingError naming the topic, id and field, so a bad
 * message is rejected before it poisons a whole insert batch.
 */
import { shortHash } from '../../core/util/hash.ts';
import { storedTopics } from '../../schemas/catalog.ts';
import { deadLetterId } from '../runtime/kafka/dlq.ts';
import type { Candidate, Combination, Lineage, Seed, SeedConcepts, TopicValues, Verdict } from '../../schemas/generated/types.ts';

export class RowMappingError extends Error {
  constructor(
    readonly topic: string,
    readonly id: string,
    readonly field: string,
    problem: string,
  ) {
    super(`${topic} ${id}: field ${field} ${problem}`);
    this.name = 'RowMappingError';
  }
}

/** The table each topic lands in (database `grip` by default). */
/** Topics with a row mapper below (grip.kc-registry is a stage's internal state, not data). */
export type SinkTopic = keyof TopicRows;

/** Each stored topic's table, as schemas/topics.yaml declares it (`table:`). */
export const TOPIC_TABLES: Record<SinkTopic, string> = Object.fromEntries(storedTopics().map((spec) => [spec.topic, spec.table])) as Record<SinkTopic, string>;

export type SinkTable = string;

/** DateTime (UInt32 seconds) covers 1970-01-01 .. 2106-02-07. */
const MAX_DATETIME_MS = 4_294_967_295_000;

/** The last second formatted: a batch's messages mostly share their second (profiled: 3% of the sink's CPU). */
let lastSecond = -1;
let lastFormatted = '';
function formatSecond(second: number): string {
  if (second !== lastSecond) {
    lastFormatted = new Date(second * 1000).toISOString().slice(0, 19).replace('T', ' ');
    lastSecond = second;
  }
  return lastFormatted;
}

/** Checks values against column ranges; one per message, so errors name the message. */
class Check {
  constructor(
    private readonly topic: string,
    private readonly id: string,
  ) {}

  fail(field: string, problem: string): never {
    throw new RowMappingError(this.topic, this.id, field, problem);
  }

  text(field: string, value: unknown): string {
    if (typeof value !== 'string') this.fail(field, `must be a string, got ${describe(value)}`);
    return value;
  }

  optionalText(field: string, value: unknown): string | null {
    return value === null || value === undefined ? null : this.text(field, value);
  }

  texts(field: string, value: unknown): string[] {
    if (!Array.isArray(value)) this.fail(field, `must be an array, got ${describe(value)}`);
    return value.map((v, i) => this.text(`${field}[${i}]`, v));
  }

  finite(field: string, value: unknown): number {
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(field, `must be a finite number, got ${describe(value)}`);
    return value;
  }

  optionalFinite(field: string, value: unknown): number | null {
    return value === null || value === undefined ? null : this.finite(field, value);
  }

  uint(field: string, value: unknown, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
      this.fail(field, `must be an integer in 0..${max}, got ${describe(value)}`);
    }
    return value;
  }

  flag(field: string, value: unknown): 0 | 1 {
    if (typeof value !== 'boolean') this.fail(field, `must be a boolean, got ${describe(value)}`);
    return value ? 1 : 0;
  }

  /** 'YYYY-MM-DD hh:mm:ss' in UTC (sub-second part dropped: DateTime has second precision). */
  dateTime(field: string, ms: unknown): string {
    if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms > MAX_DATETIME_MS) {
      this.fail(field, `must be a timestamp in ms between 1970 and 2106, got ${describe(ms)}`);
    }
    return formatSecond(Math.floor(ms / 1000));
  }

  lineage(value: Lineage | undefined): LineageColumns {
    if (!value || typeof value !== 'object') this.fail('lineage', `must be a record, got ${describe(value)}`);
    if (!Array.isArray(value.steps)) this.fail('lineage.steps', `must be an array, got ${describe(value.steps)}`);
    const steps = value.steps;
    return {
      lineage_seed_ids: this.texts('lineage.seed_ids', value.seed_ids),
      lineage_kc_ids: this.texts('lineage.kc_ids', value.kc_ids),
      lineage_combo_id: this.optionalText('lineage.combo_id', value.combo_id),
      lineage_stages: steps.map((s, i) => this.text(`lineage.steps[${i}].stage`, s.stage)),
      lineage_models: steps.map((s, i) => this.text(`lineage.steps[${i}].model`, s.model)),
      lineage_prompt_versions: steps.map((s, i) => this.text(`lineage.steps[${i}].prompt_version`, s.prompt_version)),
      lineage_call_ids: steps.map((s, i) => this.text(`lineage.steps[${i}].call_id`, s.call_id)),
      lineage_prompt_tokens: steps.map((s) => tokenCount(s.prompt_tokens)),
      lineage_completion_tokens: steps.map((s) => tokenCount(s.completion_tokens)),
    };
  }

  records<T>(field: string, value: unknown): T[] {
    if (!Array.isArray(value)) this.fail(field, `must be an array, got ${describe(value)}`);
    return value as T[];
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

function idOf(topic: string, field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new RowMappingError(topic, '(no id)', field, `must be a non-empty string, got ${describe(value)}`);
  return value;
}

export interface LineageColumns {
  lineage_seed_ids: string[];
  lineage_kc_ids: string[];
  lineage_combo_id: string | null;
  lineage_stages: string[];
  lineage_models: string[];
  lineage_prompt_versions: string[];
  lineage_call_ids: string[];
  lineage_prompt_tokens: number[];
  lineage_completion_tokens: number[];
}

/** Token counts arrive from older producers as absent (schema default 0); never negative. */
function tokenCount(n: unknown): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

export interface SeedRow {
  seed_id: string;
  problem: string;
  solution: string;
  source: string;
  source_id: string | null;
  ingested_at: string;
  version: number;
}

export interface ConceptsRow extends LineageColumns {
  seed_id: string;
  concepts_id: string;
  kc_ids: string[];
  kc_names: string[];
  kc_raw_names: string[];
  kc_outcomes: string[];
  kc_similarities: number[];
  dropped_raw_names: string[];
  dropped_reasons: string[];
  created_at: string;
  version: number;
}

export interface PairRow extends LineageColumns {
  combo_id: string;
  key: string;
  kc_ids: string[];
  kc_names: string[];
  relation: string;
  hop: number;
  witness: string[];
  weight: number;
  novel: 0 | 1;
  created_at: string;
  version: number;
}

export interface CandidateRow extends LineageColumns {
  candidate_id: string;
  combo_id: string;
  relation: string;
  hop: number;
  novel: 0 | 1;
  kc_ids: string[];
  kc_names: string[];
  problem: string;
  difficulty: string;
  solution: string;
  final_answer: string | null;
  created_at: string;
  version: number;
}

export interface VerdictRow extends LineageColumns {
  verdict_id: string;
  candidate_id: string;
  combo_id: string;
  judge_config_version: string;
  accepted: 0 | 1;
  reason: string;
  problem_score: number | null;
  threshold: number;
  judge_names: string[];
  judge_models: string[];
  judge_weights: number[];
  judge_problem_scores: Array<number | null>;
  judge_solution_votes: Array<0 | 1 | null>;
  calls_made: number;
  calls_saved: number;
  duplicate_of: string | null;
  contamination_overlap: number;
  contamination_match: string | null;
  relation: string;
  hop: number;
  novel: 0 | 1;
  kc_ids: string[];
  kc_names: string[];
  problem: string;
  solution: string;
  final_answer: string | null;
  difficulty: string;
  created_at: string;
  version: number;
}

const UINT8 = 255;
const UINT32 = 4_294_967_295;

export function seedRow(seed: Seed): SeedRow {
  const c = new Check('grip.seeds', idOf('grip.seeds', 'seed_id', seed?.seed_id));
  return {
    seed_id: seed.seed_id,
    problem: c.text('problem', seed.problem),
    solution: c.text('solution', seed.solution),
    source: c.text('source', seed.source),
    source_id: c.optionalText('source_id', seed.source_id),
    ingested_at: c.dateTime('ingested_at', seed.ingested_at),
    version: seed.ingested_at,
  };
}

export function conceptsRow(m: SeedConcepts): ConceptsRow {
  const c = new Check('grip.concepts', idOf('grip.concepts', 'concepts_id', m?.concepts_id));
  const kcs = c.records<SeedConcepts['kcs'][number]>('kcs', m.kcs);
  const dropped = c.records<SeedConcepts['dropped'][number]>('dropped', m.dropped);
  return {
    seed_id: c.text('seed_id', m.seed_id),
    concepts_id: m.concepts_id,
    kc_ids: kcs.map((k, i) => c.text(`kcs[${i}].kc_id`, k.kc_id)),
    kc_names: kcs.map((k, i) => c.text(`kcs[${i}].name`, k.name)),
    kc_raw_names: kcs.map((k, i) => c.text(`kcs[${i}].raw_name`, k.raw_name)),
    kc_outcomes: kcs.map((k, i) => c.text(`kcs[${i}].outcome`, k.outcome)),
    kc_similarities: kcs.map((k, i) => c.finite(`kcs[${i}].similarity`, k.similarity)),
    dropped_raw_names: dropped.map((d, i) => c.text(`dropped[${i}].raw_name`, d.raw_name)),
    dropped_reasons: dropped.map((d, i) => c.text(`dropped[${i}].reason`, d.reason)),
    ...c.lineage(m.lineage),
    created_at: c.dateTime('created_at', m.created_at),
    version: m.created_at,
  };
}

export function pairRow(m: Combination): PairRow {
  const c = new Check('grip.pairs', idOf('grip.pairs', 'combo_id', m?.combo_id));
  return {
    combo_id: m.combo_id,
    key: c.text('key', m.key),
    kc_ids: c.texts('kc_ids', m.kc_ids),
    kc_names: c.texts('kc_names', m.kc_names),
    relation: c.text('relation', m.relation),
    hop: c.uint('hop', m.hop, UINT8),
    witness: c.texts('witness', m.witness),
    weight: c.finite('weight', m.weight),
    novel: c.flag('novel', m.novel),
    ...c.lineage(m.lineage),
    created_at: c.dateTime('created_at', m.created_at),
    version: m.created_at,
  };
}

export function candidateRow(m: Candidate): CandidateRow {
  const c = new Check('grip.candidates', idOf('grip.candidates', 'candidate_id', m?.candidate_id));
  return {
    candidate_id: m.candidate_id,
    combo_id: c.text('combo_id', m.combo_id),
    relation: c.text('relation', m.relation),
    hop: c.uint('hop', m.hop, UINT8),
    novel: c.flag('novel', m.novel),
    kc_ids: c.texts('kc_ids', m.kc_ids),
    kc_names: c.texts('kc_names', m.kc_names),
    problem: c.text('problem', m.problem),
    difficulty: c.text('difficulty', m.difficulty),
    solution: c.text('solution', m.solution),
    final_answer: c.optionalText('final_answer', m.final_answer),
    ...c.lineage(m.lineage),
    created_at: c.dateTime('created_at', m.created_at),
    version: m.created_at,
  };
}

export function verdictRow(m: Verdict): VerdictRow {
  const c = new Check('grip.verdicts', idOf('grip.verdicts', 'verdict_id', m?.verdict_id));
  const judges = c.records<Verdict['judges'][number]>('judges', m.judges);
  return {
    verdict_id: m.verdict_id,
    candidate_id: c.text('candidate_id', m.candidate_id),
    combo_id: c.text('combo_id', m.combo_id),
    judge_config_version: c.text('judge_config_version', m.judge_config_version),
    accepted: c.flag('accepted', m.accepted),
    reason: c.text('reason', m.reason),
    problem_score: c.optionalFinite('problem_score', m.problem_score),
    threshold: c.finite('threshold', m.threshold),
    judge_names: judges.map((j, i) => c.text(`judges[${i}].judge`, j.judge)),
    judge_models: judges.map((j, i) => c.text(`judges[${i}].model`, j.model)),
    judge_weights: judges.map((j, i) => c.finite(`judges[${i}].weight`, j.weight)),
    judge_problem_scores: judges.map((j, i) => c.optionalFinite(`judges[${i}].problem_score`, j.problem_score)),
    judge_solution_votes: judges.map((j, i) =>
      j.solution_vote === null || j.solution_vote === undefined ? null : (c.uint(`judges[${i}].solution_vote`, j.solution_vote, 1) as 0 | 1),
    ),
    calls_made: c.uint('calls_made', m.calls_made, UINT32),
    calls_saved: c.uint('calls_saved', m.calls_saved, UINT32),
    duplicate_of: c.optionalText('duplicate_of', m.duplicate_of),
    contamination_overlap: c.uint('contamination_overlap', m.contamination_overlap, UINT32),
    contamination_match: c.optionalText('contamination_match', m.contamination_match),
    relation: c.text('relation', m.relation),
    hop: c.uint('hop', m.hop, UINT8),
    novel: c.flag('novel', m.novel),
    kc_ids: c.texts('kc_ids', m.kc_ids),
    kc_names: c.texts('kc_names', m.kc_names),
    problem: c.text('problem', m.problem),
    solution: c.text('solution', m.solution),
    final_answer: c.optionalText('final_answer', m.final_answer),
    difficulty: c.text('difficulty', m.difficulty),
    ...c.lineage(m.lineage),
    created_at: c.dateTime('created_at', m.created_at),
    version: m.created_at,
  };
}

export interface TopicRows {
  'grip.seeds': SeedRow;
  'grip.concepts': ConceptsRow;
  'grip.pairs': PairRow;
  'grip.candidates': CandidateRow;
  'grip.verdicts': VerdictRow;
}

const MAPPERS: { [T in SinkTopic]: (value: TopicValues[T]) => TopicRows[T] } = {
  'grip.seeds': seedRow,
  'grip.concepts': conceptsRow,
  'grip.pairs': pairRow,
  'grip.candidates': candidateRow,
  'grip.verdicts': verdictRow,
};

/** The table and row of a message of `topic`; throws for an unknown topic or a bad value. */
export function rowFor<T extends SinkTopic>(topic: T, value: TopicValues[T]): { table: SinkTable; row: TopicRows[T] } {
  const mapper = MAPPERS[topic] as ((value: TopicValues[T]) => TopicRows[T]) | undefined;
  if (!mapper || !TOPIC_TABLES[topic]) throw new Error(`clickhouse-sink: no table for topic ${JSON.stringify(topic)} (known: ${Object.keys(MAPPERS).join(', ')})`);
  return { table: TOPIC_TABLES[topic], row: mapper(value) };
}

// ---- dead letters ------------------------------------------------------------------------------

/** The DLQ headers, by name (services/runtime/kafka/dlq.ts writes them). */
export interface DeadLetterInput {
  dlqTopic: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | string>;
  /** Kafka timestamp of the DLQ record, ms. */
  timestamp: number;
}

export interface DeadLetterRow {
  dlq_id: string;
  dlq_topic: string;
  stage: string;
  reason: string;
  detail: string;
  source_topic: string;
  source_partition: number;
  source_offset: number;
  message_key: string;
  seed_ids: string[];
  payload: string;
  payload_encoding: 'utf8' | 'base64';
  failed_at: string;
  version: number;
}

/** Topics whose message key is a seed id: their dead letters name the seed they failed on. */
const SEED_KEYED_TOPICS = new Set(['grip.seeds', 'grip.concepts']);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A DLQ record as a row. Pure. The id is the stage that refused the record and the record's
 * position (source topic, partition, offset), or for seed-ingest rejects, which never were a
 * record, the stage and the hash of the rejected bytes: the same failure dead-lettered twice lands
 * once, and two stages refusing one record land twice (deadLetterId).
 */
export function deadLetterRow(input: DeadLetterInput): DeadLetterRow {
  const header = (name: string): string => {
    const v = input.headers[name];
    return v === undefined ? '' : Buffer.isBuffer(v) ? v.toString('utf8') : v;
  };
  const sourceTopic = header('dlq-source-topic');
  const partition = Number.parseInt(header('dlq-source-partition'), 10);
  const offset = Number.parseInt(header('dlq-source-offset'), 10);
  const bytes = input.value ?? Buffer.alloc(0);
  const key = input.key ? input.key.toString('utf8') : '';
  let payload: string;
  let encoding: DeadLetterRow['payload_encoding'];
  try {
    payload = strictUtf8.decode(bytes);
    encoding = payload.includes('\u0000') ? 'base64' : 'utf8';
  } catch {
    encoding = 'base64';
  }
  if (encoding === 'base64') payload = bytes.toString('base64');
  const positioned = Number.isInteger(partition) && partition >= 0 && Number.isInteger(offset) && offset >= 0;
  const failedAt = Date.parse(header('dlq-timestamp'));
  const at = Number.isFinite(failedAt) ? failedAt : input.timestamp;
  const stage = header('dlq-stage') || 'unknown';
  return {
    dlq_id: positioned ? deadLetterId(stage, sourceTopic, partition, offset) : `dlq-${stage}-${input.dlqTopic}-${shortHash(bytes.toString('base64'), 24)}`,
    dlq_topic: input.dlqTopic,
    stage,
    reason: header('dlq-reason') || 'unknown',
    detail: header('dlq-detail'),
    source_topic: sourceTopic,
    source_partition: positioned ? partition : -1,
    source_offset: positioned ? offset : -1,
    message_key: key,
    seed_ids: positioned && SEED_KEYED_TOPICS.has(sourceTopic) && key ? [key] : [],
    payload: payload!,
    payload_encoding: encoding,
    failed_at: new Date(at).toISOString().slice(0, 19).replace('T', ' '),
    version: at,
  };
}

/** ASCII only (other characters as \\uXXXX), at most `max` characters: text any column takes. */
function asciiEscaped(text: string, max: number): string {
  const escaped = text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length <= max ? escaped : `${escaped.slice(0, max)}...`;
}

const DATETIME_RE = /^(19[7-9]\d|20\d\d|210[0-5])-\d\d-\d\d \d\d:\d\d:\d\d$/;

/**
 * A dead letter ClickHouse refused, in the most storable form: every text ASCII-escaped and
 * bounded, the payload base64, the key hex, numbers clamped, the time checked. The sink stores this
 * rather than drop a dead letter; `refusal` (why the full row was refused) heads the detail.
 */
export function minimalDeadLetterRow(row: DeadLetterRow, refusal: string): DeadLetterRow {
  const int32 = (n: number) => (Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 ? n : -1);
  const int64 = (n: number) => (Number.isSafeInteger(n) ? n : -1);
  return {
    dlq_id: asciiEscaped(row.dlq_id, 500),
    dlq_topic: asciiEscaped(row.dlq_topic, 200),
    stage: asciiEscaped(row.stage, 200),
    reason: asciiEscaped(row.reason, 200),
    detail: asciiEscaped(`[stored in minimal form; the full row was refused: ${refusal}] ${row.detail}`, 2000),
    source_topic: asciiEscaped(row.source_topic, 200),
    source_partition: int32(row.source_partition),
    source_offset: int64(row.source_offset),
    message_key: Buffer.from(row.message_key, 'utf8').toString('hex').slice(0, 1000),
    seed_ids: row.seed_ids.filter((id) => /^[\x20-\x7e]{1,200}$/.test(id)),
    payload: row.payload_encoding === 'base64' ? row.payload : Buffer.from(row.payload, 'utf8').toString('base64'),
    payload_encoding: 'base64',
    failed_at: DATETIME_RE.test(row.failed_at) ? row.failed_at : '1970-01-01 00:00:00',
    version: Number.isSafeInteger(row.version) && row.version >= 0 ? row.version : 0,
  };
}
