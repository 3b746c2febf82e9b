/**
 * The schema catalog: topics.yaml plus the Avro schemas it names, resolved into self-contained
 * schemas (shared named types inlined) ready for the registry, codegen and validation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import YAML from 'yaml';

export const SCHEMAS_DIR = path.dirname(fileURLToPath(import.meta.url));

export interface TopicSpec {
  topic: string;
  /** Field of the value that is the message key. */
  key: string;
  partitions: number;
  config: Record<string, string>;
  dlq: string;
  dlqConfig: Record<string, string>;
  /** Services that write it and services that read it (names of services/stages.ts). */
  producers: string[];
  consumers: string[];
  /** The ClickHouse table the sink stores it in; undefined: not stored (a stage's internal log). */
  table?: string;
  /** Self-contained Avro schema (named types inlined). */
  schema: AvroRecord;
  /** Compiled avsc type, for validation and tests. */
  type: avro.Type;
}

export interface AvroRecord {
  type: 'record';
  name: string;
  namespace?: string;
  doc?: string;
  fields: Array<{ name: string; type: unknown; doc?: string; default?: unknown }>;
}

function readJson(file: string): any {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${path.relative(SCHEMAS_DIR, file)}: ${(error as Error).message}`);
  }
}

/** Replaces references to shared named types by their definition, the first time each is used. */
function inlineSharedTypes(schema: unknown, shared: Map<string, AvroRecord>, used = new Set<string>()): unknown {
  if (typeof schema === 'string') {
    const def = shared.get(schema);
    if (def && !used.has(schema)) {
      used.add(schema);
      return inlineSharedTypes(def, shared, used);
    }
    return schema;
  }
  if (Array.isArray(schema)) return schema.map((s) => inlineSharedTypes(s, shared, used));
  if (schema && typeof schema === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(schema)) out[k] = k === 'type' || k === 'items' || k === 'fields' ? inlineSharedTypes(v, shared, used) : v;
    // fields are objects whose `type` must be resolved
    return out;
  }
  return schema;
}

let cached: Map<string, TopicSpec> | undefined;
let sharedTypes: Map<string, AvroRecord> | undefined;
let dlqConfig: Record<string, string> = {};

/** One topics.yaml entry -> its spec, with every check named after the file. */
function parseTopic(topic: string, spec: any): TopicSpec {
  const schema = inlineSharedTypes(readJson(path.join(SCHEMAS_DIR, spec.schema)), sharedTypes!) as AvroRecord;
  let type: avro.Type;
  try {
    type = avro.Type.forSchema(schema as avro.Schema);
  } catch (error) {
    throw new Error(`${spec.schema}: invalid Avro schema: ${(error as Error).message}`);
  }
  if (!schema.fields.some((f) => f.name === spec.key)) throw new Error(`topics.yaml: ${topic} key "${spec.key}" is not a field of ${spec.schema}`);
  for (const list of ['producers', 'consumers'] as const) {
    if (!Array.isArray(spec[list]) || spec[list].some((n: unknown) => typeof n !== 'string')) throw new Error(`topics.yaml: ${topic}.${list} must be a list of service names`);
  }
  return {
    topic,
    key: spec.key,
    partitions: spec.partitions,
    config: stringify(spec.config),
    dlq: spec.dlq,
    dlqConfig,
    producers: spec.producers,
    consumers: spec.consumers,
    table: spec.table,
    schema,
    type,
  };
}

export function loadTopics(): Map<string, TopicSpec> {
  if (cached) return cached;
  const doc = YAML.parse(fs.readFileSync(path.join(SCHEMAS_DIR, 'topics.yaml'), 'utf8'));
  sharedTypes = new Map<string, AvroRecord>();
  for (const rel of doc.shared_types ?? []) {
    const s = readJson(path.join(SCHEMAS_DIR, rel)) as AvroRecord;
    sharedTypes.set(`${s.namespace}.${s.name}`, s);
  }
  dlqConfig = stringify(doc.dlq_config);
  const topics = new Map<string, TopicSpec>();
  for (const [topic, spec] of Object.entries<any>(doc.topics)) topics.set(topic, parseTopic(topic, spec));
  cached = topics;
  return topics;
}

/**
 * Adds a topic as a topics.yaml entry would (same fields, same checks) to this process's catalog:
 * how the contributor recipes (test/recipes/) try a new stage before editing topics.yaml.
 */
export function addTopic(topic: string, entry: Record<string, unknown>): TopicSpec {
  const topics = loadTopics();
  if (topics.has(topic)) throw new Error(`topics.yaml: ${topic} is declared already`);
  const spec = parseTopic(topic, entry);
  topics.set(topic, spec);
  return spec;
}

export function topicSpec(topic: string): TopicSpec {
  const spec = loadTopics().get(topic);
  if (!spec) throw new Error(`unknown topic "${topic}" (known: ${[...loadTopics().keys()].join(', ')})`);
  return spec;
}

/** Topics the ClickHouse sink stores, each with its table. */
export function storedTopics(): Array<TopicSpec & { table: string }> {
  return [...loadTopics().values()].filter((spec): spec is TopicSpec & { table: string } => typeof spec.table === 'string');
}

function stringify(config: Record<string, unknown> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)]));
}

/** Example messages of a topic (schemas/examples/<topic>/<name>.json): the tests' fixtures. */
export function loadExamples(topic: string): Array<{ name: string; value: any }> {
  const dir = path.join(SCHEMAS_DIR, 'examples', topic);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ name: f, value: readJson(path.join(dir, f)) }));
}
