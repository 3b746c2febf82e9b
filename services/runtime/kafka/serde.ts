/**
 * Avro values in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body), with every
 * topic's value schema registered under the subject `<topic>-value` at start. Encoding checks the
 * value against the topic's schema; decoding resolves the writer's schema (by id) into the topic's
 * schema, so a message written with an older compatible schema still reads.
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { loadTopics, type TopicSpec } from '../../../schemas/catalog.ts';
import { DecodeError, NonRetriableError, RetriableError, errorMessage } from './errors.ts';

export const subjectOf = (topic: string) => `${topic}-value`;

export interface Serde {
  /** The registered schema id of a topic's value. */
  schemaId(topic: string): number;
  encode(topic: string, value: unknown): Promise<Buffer>;
  /** Throws DecodeError (non-retriable) for bytes that are not a value of the topic's schema. */
  decode(topic: string, bytes: Buffer | null): Promise<unknown>;
  /** The message key of a value: its declared key field. */
  keyOf(topic: string, value: unknown): Buffer;
}

export interface RegistrySerdeOptions {
  /** Registry base URL, e.g. http://127.0.0.1:8081/apis/ccompat/v7 */
  url: string;
  /** Topics to register; default every topic of schemas/topics.yaml. */
  topics?: TopicSpec[];
}

/** Registers every topic's schema (idempotent: the registry returns the existing id) and returns a Serde. */
export async function connectSerde(options: RegistrySerdeOptions): Promise<Serde> {
  const registry = new SchemaRegistry({ host: options.url, retry: { retries: 3 } });
  const specs = options.topics ?? [...loadTopics().values()];
  const ids = new Map<string, number>();
  for (const spec of specs) {
    try {
      const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(spec.schema) }, { subject: subjectOf(spec.topic) });
      ids.set(spec.topic, id);
    } catch (error) {
      throw new Error(`registering ${subjectOf(spec.topic)} at ${options.url} failed: ${errorMessage(error)}`, { cause: error });
    }
  }
  return new RegistrySerde(registry, new Map(specs.map((s) => [s.topic, s])), ids);
}

class RegistrySerde implements Serde {
  private readonly decoders = new Map<string, (payload: Buffer) => unknown>();

  constructor(
    private readonly registry: SchemaRegistry,
    private readonly specs: Map<string, TopicSpec>,
    private readonly ids: Map<string, number>,
  ) {}

  private spec(topic: string): TopicSpec {
    const spec = this.specs.get(topic);
    if (!spec) throw new Error(`serde: topic ${topic} was not registered (known: ${[...this.specs.keys()].join(', ')})`);
    return spec;
  }

  schemaId(topic: string): number {
    const id = this.ids.get(topic);
    if (id === undefined) throw new Error(`serde: no schema id for topic ${topic}`);
    return id;
  }

  async encode(topic: string, value: unknown): Promise<Buffer> {
    const id = this.schemaId(topic);
    try {
      return await this.registry.encode(id, value);
    } catch (error) {
      // A value that does not fit its schema is the handler's fault, not a passing failure.
      throw new NonRetriableError('invalid_output', `value for ${topic} does not match schema ${subjectOf(topic)}: ${errorMessage(error)}`, { cause: error });
    }
  }

  async decode(topic: string, bytes: Buffer | null): Promise<unknown> {
    const spec = this.spec(topic);
    if (!bytes || bytes.length < 5) throw new DecodeError(`${topic}: ${bytes ? bytes.length : 0} bytes, too short for the Confluent wire format`);
    if (bytes[0] !== 0) throw new DecodeError(`${topic}: magic byte ${bytes[0]}, expected 0 (Confluent wire format)`);
    const id = bytes.readInt32BE(1);
    // known (topic, schema id): no registry call, not even a cached one (a stage decodes every message)
    const known = this.decoders.get(`${topic}\u0000${id}`);
    if (known) return decodeWith(known, spec, id, bytes);
    let writer: unknown;
    try {
      writer = await this.registry.getSchema(id);
    } catch (error) {
      // An id the registry does not know is bad input; a registry that does not answer is not.
      if (isNotFound(error)) throw new DecodeError(`${topic}: schema id ${id} is not in the registry`, { cause: error });
      throw new RetriableError(`${topic}: fetching schema id ${id} failed: ${errorMessage(error)}`, { cause: error });
    }
    return decodeWith(this.decoder(spec, id, writer as avro.Type), spec, id, bytes);
  }

  /**
   * The reader type of a topic, resolved from a writer schema once per (topic, schema id). The
   * registry client's own decode with a reader schema compiles that schema again for every message
   * (avsc Type.forSchema + equals): most of a stage's CPU per message before this cache.
   */
  private decoder(spec: TopicSpec, id: number, writer: avro.Type): (payload: Buffer) => unknown {
    const key = `${spec.topic}\u0000${id}`;
    let decode = this.decoders.get(key);
    if (!decode) {
      const reader = avro.Type.forSchema(spec.schema as avro.Schema);
      // equal schemas still decode with the reader's own options (avsc issue 362): no resolver then
      const resolver = reader.equals(writer) ? undefined : reader.createResolver(writer);
      decode = (payload) => reader.fromBuffer(payload, resolver);
      this.decoders.set(key, decode);
    }
    return decode;
  }

  keyOf(topic: string, value: unknown): Buffer {
    return keyOfValue(this.spec(topic), value);
  }
}

function decodeWith(decode: (payload: Buffer) => unknown, spec: TopicSpec, id: number, bytes: Buffer): unknown {
  try {
    return decode(bytes.subarray(5));
  } catch (error) {
    throw new DecodeError(`${spec.topic}: not a ${spec.schema.name} in schema id ${id}: ${errorMessage(error)}`, { cause: error });
  }
}

function keyOfValue(spec: TopicSpec, value: unknown): Buffer {
  const key = (value as Record<string, unknown> | null)?.[spec.key];
  if (typeof key !== 'string' || key === '') {
    throw new NonRetriableError('invalid_output', `value for ${spec.topic} has no string key field "${spec.key}"`);
  }
  return Buffer.from(key, 'utf8');
}

/**
 * The same Avro values and wire format without a registry, for the in-process transport of
 * `grip run`: every value is checked against its topic's schema exactly as on Kafka. Schema ids are
 * local (the topic's position in the catalog), so these bytes are not meant for a real broker.
 */
export function localSerde(specs: TopicSpec[] = [...loadTopics().values()]): Serde {
  const byTopic = new Map(specs.map((s, i) => [s.topic, { spec: s, id: i + 1 }]));
  const entry = (topic: string) => {
    const e = byTopic.get(topic);
    if (!e) throw new Error(`serde: topic ${topic} is not in the catalog (known: ${[...byTopic.keys()].join(', ')})`);
    return e;
  };
  return {
    schemaId: (topic) => entry(topic).id,
    async encode(topic, value) {
      const { spec, id } = entry(topic);
      let body: Buffer;
      try {
        body = spec.type.toBuffer(value);
      } catch (error) {
        throw new NonRetriableError('invalid_output', `value for ${topic} does not match schema ${subjectOf(topic)}: ${errorMessage(error)}`, { cause: error });
      }
      const header = Buffer.alloc(5);
      header.writeInt32BE(id, 1);
      return Buffer.concat([header, body]);
    },
    async decode(topic, bytes) {
      const { spec, id } = entry(topic);
      if (!bytes || bytes.length < 5 || bytes[0] !== 0) throw new DecodeError(`${topic}: not in the Confluent wire format`);
      if (bytes.readInt32BE(1) !== id) throw new DecodeError(`${topic}: schema id ${bytes.readInt32BE(1)} is not ${subjectOf(topic)}`);
      try {
        return spec.type.fromBuffer(bytes.subarray(5));
      } catch (error) {
        throw new DecodeError(`${topic}: not a ${spec.schema.name}: ${errorMessage(error)}`, { cause: error });
      }
    },
    keyOf: (topic, value) => keyOfValue(entry(topic).spec, value),
  };
}

function isNotFound(error: unknown): boolean {
  const e = error as { status?: number; message?: string } | undefined;
  return e?.status === 404 || /\b404\b|40403|not found/i.test(e?.message ?? '');
}
