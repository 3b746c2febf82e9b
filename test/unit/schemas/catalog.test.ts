import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadExamples, loadTopics } from '../../../schemas/catalog.ts';
import { GENERATED_FILE, generateTypes } from '../../../schemas/codegen.ts';

const PIPELINE_TOPICS = ['grip.seeds', 'grip.concepts', 'grip.pairs', 'grip.candidates', 'grip.verdicts'];
/** Internal topics: state a stage shares between its instances (no lineage: they are not pipeline data). */
const INTERNAL_TOPICS = ['grip.kc-registry'];

describe('schema catalog', () => {
  it('declares every pipeline topic with a DLQ, settings and a self-contained schema', () => {
    const topics = loadTopics();
    expect([...topics.keys()]).toEqual([...PIPELINE_TOPICS, ...INTERNAL_TOPICS]);
    for (const spec of topics.values()) {
      expect(spec.dlq).toBe(`${spec.topic}.dlq`);
      expect(spec.partitions).toBeGreaterThan(0);
      expect(spec.config['cleanup.policy']).toBeDefined();
      // self-contained: no reference to a type defined in another file
      expect(JSON.stringify(spec.schema)).not.toMatch(/"type":"grip\.v1\./);
    }
  });

  it('has example messages for every topic, each valid against its schema and carrying lineage', () => {
    for (const spec of loadTopics().values()) {
      const examples = loadExamples(spec.topic);
      expect(examples.length, spec.topic).toBeGreaterThan(0);
      for (const { name, value } of examples) {
        const errors: string[] = [];
        const valid = spec.type.isValid(value, { errorHook: (p) => errors.push(p.join('.')) });
        expect(valid, `${spec.topic}/${name}: invalid at ${errors.join(', ')}`).toBe(true);
        if (PIPELINE_TOPICS.includes(spec.topic) && spec.topic !== 'grip.seeds') expect(value.lineage.seed_ids.length).toBeGreaterThan(0);
        const roundTrip = spec.type.fromBuffer(spec.type.toBuffer(value));
        expect(roundTrip).toEqual(value);
      }
    }
  });

  it('rejects a message with a missing field', () => {
    const spec = loadTopics().get('grip.seeds')!;
    const [{ value }] = loadExamples('grip.seeds');
    const { problem: _dropped, ...broken } = value;
    expect(spec.type.isValid(broken)).toBe(false);
  });

  it('generated TypeScript types are up to date with the schemas (npm run schemas:gen)', () => {
    expect(fs.readFileSync(GENERATED_FILE, 'utf8')).toBe(generateTypes());
  });
});
