/**
 * schemas/topics.yaml and the stage declarations describe one pipeline: who writes and reads each
 * topic, and which table stores it. These checks fail when the two drift, when a stage reads a topic
 * nobody writes, or when a schema or example file is referenced by nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopics, SCHEMAS_DIR, storedTopics } from '../../../schemas/catalog.ts';
import { PIPELINE_STAGES, SERVICE_NAMES, SERVICES } from '../../../services/stages.ts';
import { REPO_ROOT } from '../../../services/runtime/config.ts';
import type { Declaration } from '../../../services/runtime/stage.ts';

/** Who writes and reads each topic, as the declarations say. */
export function ownershipOf(services: readonly Declaration[]): Map<string, { producers: Set<string>; consumers: Set<string> }> {
  const out = new Map<string, { producers: Set<string>; consumers: Set<string> }>();
  const at = (topic: string) => {
    let o = out.get(topic);
    if (!o) out.set(topic, (o = { producers: new Set(), consumers: new Set() }));
    return o;
  };
  for (const s of services) {
    for (const t of s.sideOutputs ?? []) at(t).producers.add(s.name);
    for (const t of s.stateLogs ?? []) at(t).consumers.add(s.name);
    if (s.kind === 'stage') {
      at(s.input).consumers.add(s.name);
      if (s.output) at(s.output).producers.add(s.name);
    } else {
      for (const t of s.produces) at(t).producers.add(s.name);
      if (s.consumes === 'every-topic') for (const spec of storedTopics()) at(spec.topic).consumers.add(s.name);
      else for (const t of s.consumes) at(t).consumers.add(s.name);
    }
  }
  return out;
}

describe('topics.yaml ownership', () => {
  const topics = loadTopics();
  const declared = ownershipOf(SERVICES);

  it('lists exactly the producers and consumers the declarations have', () => {
    for (const spec of topics.values()) {
      const d = declared.get(spec.topic) ?? { producers: new Set(), consumers: new Set() };
      expect([...spec.producers].sort(), `${spec.topic} producers`).toEqual([...d.producers].sort());
      expect([...spec.consumers].sort(), `${spec.topic} consumers`).toEqual([...d.consumers].sort());
    }
    for (const topic of declared.keys()) expect(topics.has(topic), `${topic} is declared by a stage but not in topics.yaml`).toBe(true);
  });

  it('names only declared services, and every topic a stage reads has a producer', () => {
    for (const spec of topics.values()) {
      for (const name of [...spec.producers, ...spec.consumers]) expect(SERVICE_NAMES, `${spec.topic}: ${name}`).toContain(name);
    }
    for (const stage of PIPELINE_STAGES) expect(topics.get(stage.input)?.producers.length ?? 0, `${stage.name} reads ${stage.input}, which nobody produces`).toBeGreaterThan(0);
  });

  it('references every schema and every example file, and every example is a valid message of its topic', () => {
    const yaml = fs.readFileSync(path.join(SCHEMAS_DIR, 'topics.yaml'), 'utf8');
    for (const file of fs.readdirSync(path.join(SCHEMAS_DIR, 'avro'))) expect(yaml, `schemas/avro/${file} is referenced by nothing`).toContain(`avro/${file}`);
    for (const dir of fs.readdirSync(path.join(SCHEMAS_DIR, 'examples'))) {
      const spec = topics.get(dir);
      expect(spec, `schemas/examples/${dir} is not a topic`).toBeDefined();
      for (const file of fs.readdirSync(path.join(SCHEMAS_DIR, 'examples', dir))) {
        const value = JSON.parse(fs.readFileSync(path.join(SCHEMAS_DIR, 'examples', dir, file), 'utf8'));
        expect(spec!.type.isValid(spec!.type.fromBuffer(spec!.type.toBuffer(value))), `${dir}/${file}`).toBe(true);
      }
    }
    for (const spec of topics.values()) expect(fs.existsSync(path.join(SCHEMAS_DIR, 'examples', spec.topic)), `${spec.topic} has no example message`).toBe(true);
  });

  it('stores each table-backed topic, and the DLQ-rate query counts each producing stage against its table', () => {
    const sql = fs.readFileSync(path.join(REPO_ROOT, 'deploy', 'clickhouse', 'analytics', 'dlq_by_stage.sql'), 'utf8');
    for (const spec of storedTopics()) {
      for (const producer of spec.producers) expect(sql, `dlq_by_stage.sql: ${producer} -> ${spec.table}`).toMatch(new RegExp(`'${producer}' AS stage[^\\n]*FROM \\{db\\}\\.${spec.table} FINAL`));
    }
  });
});
