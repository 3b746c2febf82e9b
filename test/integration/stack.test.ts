/**
 * Acceptance of issue 2 against the running local stack (brought up by test/setup/stack.global.ts):
 * status JSON, Kafka round trip, Avro schema via the Confluent-compatible API, ClickHouse SELECT 1,
 * JSON-schema chat completion, embeddings ordering, and that stopping leaves no recorded process.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@clickhouse/client';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { Admin, Consumer, MessagesStreamModes, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig, REPO_ROOT } from '../../services/runtime/config.ts';
import { COMPONENTS, stackDown, stackStatus, stackUp } from '../../deploy/local/stack.ts';
import { stackPaths } from '../../deploy/local/paths.ts';
import { isPortFree, isRecordAlive, readRecord, spawnDetached, stopRecorded } from '../../deploy/local/supervisor.ts';
import { hasChecksum, installAtomically, isInstalled, sha256File, verifyChecksum } from '../../deploy/local/install.ts';

const run = promisify(execFile);
const config = loadConfig();
const unique = `${Date.now().toString(36)}-${process.pid}`;

describe('local stack', () => {
  it('stack:status --json prints one JSON object with all five components healthy', async () => {
    const { stdout } = await run('npx', ['tsx', 'deploy/local/cli.ts', 'status', '--json'], { cwd: REPO_ROOT });
    const status = JSON.parse(stdout) as Record<string, { url: string; healthy: boolean }>;
    expect(Object.keys(status).sort()).toEqual([...COMPONENTS].sort());
    for (const name of COMPONENTS) expect(status[name]?.healthy, `${name} healthy`).toBe(true);
    expect(status.kafka?.url).toBe(config.kafka.bootstrapServers[0]);
    expect(status.registry?.url).toMatch(/\/apis\/ccompat\/v7$/);
    expect(status.clickhouse?.url).toBe(config.clickhouse.url);
    expect(status.llm?.url).toMatch(/\/v1$/);
    expect(status.embeddings?.url).toMatch(/\/v1$/);
  });

  it('Kafka: lists the broker, creates a topic, produces and consumes a message', async () => {
    const topic = `stack-test-${unique}`;
    const base = { clientId: `${config.kafka.clientId}-stack-test`, bootstrapBrokers: config.kafka.bootstrapServers };
    const admin = new Admin(base);
    const producer = new Producer({ ...base, serializers: stringSerializers });
    const consumer = new Consumer({ ...base, groupId: `stack-test-${unique}`, deserializers: stringDeserializers });
    try {
      const metadata = await admin.metadata({ topics: [] });
      const brokers = [...metadata.brokers.values()].map((b) => `${b.host}:${b.port}`);
      expect(brokers).toContain(config.kafka.bootstrapServers[0]);

      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
      expect(await admin.listTopics()).toContain(topic);

      await producer.send({ messages: [{ topic, key: 'k1', value: `hello ${unique}` }] });

      const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false });
      let received: { key: string; value: string } | undefined;
      for await (const message of stream) {
        received = { key: message.key, value: message.value };
        break;
      }
      await stream.close();
      expect(received).toEqual({ key: 'k1', value: `hello ${unique}` });
      await admin.deleteTopics({ topics: [topic] });
    } finally {
      await consumer.close(true);
      await producer.close();
      await admin.close();
    }
  });

  it('registry: global compatibility is BACKWARD, an Avro schema gets an id, encode/decode round-trips', async () => {
    const res = await fetch(`${config.registry.url}/config`);
    expect(((await res.json()) as { compatibilityLevel: string }).compatibilityLevel).toBe('BACKWARD');

    const registry = new SchemaRegistry({ host: config.registry.url });
    const schema = {
      type: 'record',
      name: 'StackTest',
      namespace: 'grip.test',
      fields: [
        { name: 'id', type: 'string' },
        { name: 'n', type: 'int' },
      ],
    };
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
      { subject: `stack-test-${unique}-value` },
    );
    expect(Number.isInteger(id) && id > 0).toBe(true);
    const payload = { id: 'x1', n: 42 };
    const encoded = await registry.encode(id, payload);
    expect(encoded[0]).toBe(0); // Confluent wire format magic byte
    expect(await registry.decode(encoded)).toEqual(payload);
  });

  it('ClickHouse: SELECT 1 returns 1', async () => {
    const client = createClient({
      url: config.clickhouse.url,
      username: config.clickhouse.username,
      password: config.clickhouse.password,
    });
    try {
      const result = await client.query({ query: 'SELECT 1 AS one', format: 'JSONEachRow' });
      expect(await result.json()).toEqual([{ one: 1 }]);
    } finally {
      await client.close();
    }
  });

  it('llm: a chat completion with response_format json_schema returns JSON valid against the schema', async () => {
    const endpoint = config.llm.default;
    const client = new OpenAI({ baseURL: endpoint.baseUrl, apiKey: endpoint.apiKey });
    const schema = {
      type: 'object',
      additionalProperties: false,
      required: ['concepts'],
      properties: {
        concepts: { type: 'array', minItems: 1, maxItems: 5, items: { type: 'string', minLength: 2, maxLength: 60 } },
      },
    };
    const completion = await client.chat.completions.create({
      model: endpoint.model,
      temperature: 0,
      max_tokens: 200,
      messages: [
        { role: 'system', content: 'You extract the key math concepts needed to solve a problem. Answer in JSON.' },
        { role: 'user', content: 'List 1-5 key math concepts in this problem as JSON.\nProblem: Find the derivative of f(x) = x^2 sin(x).' },
      ],
      response_format: { type: 'json_schema', json_schema: { name: 'key_concepts', strict: true, schema } },
    });
    const text = completion.choices[0]?.message.content ?? '';
    const parsed = z
      .object({ concepts: z.array(z.string().min(2).max(60)).min(1).max(5) })
      .strict()
      .parse(JSON.parse(text));
    expect(parsed.concepts.length).toBeGreaterThanOrEqual(1);
    expect(completion.model).toBe(endpoint.model);
  });

  it('embeddings: cosine(derivative, differentiation) > cosine(derivative, prime factorization)', async () => {
    const client = new OpenAI({ baseURL: config.embeddings.baseUrl, apiKey: config.embeddings.apiKey });
    const res = await client.embeddings.create({
      model: config.embeddings.model,
      input: ['derivative of a function', 'differentiation', 'prime factorization'],
    });
    const [a, b, c] = res.data.map((d) => d.embedding);
    expect(a && b && c).toBeTruthy();
    expect(a?.length).toBeGreaterThan(100);
    const cosine = (x: number[], y: number[]) => {
      let dot = 0;
      let nx = 0;
      let ny = 0;
      x.forEach((v, i) => {
        const w = y[i] as number;
        dot += v * w;
        nx += v * v;
        ny += w * w;
      });
      return dot / Math.sqrt(nx * ny);
    };
    expect(cosine(a as number[], b as number[])).toBeGreaterThan(cosine(a as number[], c as number[]));
  });
});

describe('stopping', () => {
  it('the supervisor stops a recorded process (SIGTERM, SIGKILL fallback) and leaves it gone', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-supervisor-'));
    const pidFile = path.join(dir, 'dummy.pid');
    // A process that ignores SIGTERM, so the SIGKILL path is exercised too.
    const record = spawnDetached(
      { command: 'bash', args: ['-c', 'trap "" TERM; echo "trap-set-$((6*7))"; sleep 600 & wait; sleep 600'], cwd: dir },
      pidFile,
      path.join(dir, 'dummy.log'),
    );
    // Wait until the trap is set, or SIGTERM could still end it (the marker is computed, so the
    // command line echoed into the log's start header does not contain it).
    const deadline = Date.now() + 10_000;
    while (!fs.readFileSync(path.join(dir, 'dummy.log'), 'utf8').includes('trap-set-42') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(isRecordAlive(record)).toBe(true);
    expect(await stopRecorded(pidFile, 500)).toBe('killed');
    expect(isRecordAlive(record)).toBe(false);
    expect(fs.existsSync(pidFile)).toBe(false);
    expect(await stopRecorded(pidFile)).toBe('not-running');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stackDown stops a real component by its recorded PID, frees its port, and stackUp brings it back', async () => {
    const paths = stackPaths(config);
    const record = readRecord(paths.pidFile('clickhouse'));
    expect(record && isRecordAlive(record)).toBe(true);

    const { stopped } = await stackDown(config, { only: ['clickhouse'] });
    expect(stopped).toEqual(['clickhouse']);
    expect(isRecordAlive(record!)).toBe(false);
    expect(fs.existsSync(paths.pidFile('clickhouse'))).toBe(false);
    expect(await isPortFree(Number(new URL(config.clickhouse.url).port))).toBe(true);
    expect((await stackStatus(config)).clickhouse.healthy).toBe(false);

    const up = await stackUp(config, { only: ['clickhouse'], progress: () => undefined });
    expect(up.started).toEqual(['clickhouse']);
    expect(up.status.clickhouse.healthy).toBe(true);
  });
});

describe('interrupted or corrupted installs', () => {
  const ctx = { component: 'llm' as const, log: path.join(os.tmpdir(), `grip-install-${unique}.log`), progress: () => undefined };

  it('a truncated download fails its checksum, is deleted, and is therefore fetched again', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-dl-'));
    const file = path.join(dir, 'model.gguf');
    fs.writeFileSync(file, 'the complete model bytes');
    const sha = await sha256File(file);
    expect(await hasChecksum(file, sha, 24)).toBe(true);
    fs.truncateSync(file, 10); // an interrupted download
    expect(await hasChecksum(file, sha)).toBe(false);
    await expect(verifyChecksum(ctx, file, sha)).rejects.toThrow(/checksum mismatch/);
    expect(fs.existsSync(file)).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an install that fails half-way is not marked complete; a finished one is, for its pinned entry only', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-inst-'));
    const target = path.join(dir, 'component');
    const entry = { version: '1.0.0' };
    await expect(
      installAtomically(target, entry, async (staging) => {
        fs.writeFileSync(path.join(staging, 'half'), 'x');
        throw new Error('interrupted');
      }),
    ).rejects.toThrow('interrupted');
    expect(isInstalled(target, entry)).toBe(false);
    expect(fs.existsSync(target)).toBe(false);

    await installAtomically(target, entry, async (staging) => fs.writeFileSync(path.join(staging, 'bin'), 'ok'));
    expect(isInstalled(target, entry)).toBe(true);
    expect(fs.existsSync(`${target}.staging`)).toBe(false);
    expect(isInstalled(target, { version: '1.0.1' })).toBe(false); // a bumped pin reinstalls
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
