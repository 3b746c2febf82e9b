/**
 * Poison pill (issue 10): a grip.concepts message with a malformed KC id used to make the graph
 * throw in the stage (a crash) and again while rebuilding at start (a crash loop). It must go to
 * the DLQ in the stage, and be skipped (counted, logged) by the rebuild.
 */
import { describe, expect, it } from 'vitest';
import { register } from 'prom-client';
import type { SeedConcepts } from '../../../schemas/generated/types.ts';
import { ConceptGraphStage } from '../../../services/concept-graph/graph.ts';
import type { Logger } from '../../../services/runtime/log.ts';

const concepts = (seedId: string, kcIds: string[]): SeedConcepts => ({
  concepts_id: `c-${seedId}`, seed_id: seedId, dropped: [], created_at: 0,
  kcs: kcIds.map((k) => ({ kc_id: k, name: `name of ${k}`, raw_name: k, outcome: 'new', similarity: 1 })),
  lineage: { seed_ids: [seedId], kc_ids: kcIds, combo_id: null, steps: [] },
});

const POISON = [concepts('s-bad-1', ['kc-a', 'kc|b']), concepts('s-bad-2', ['kc-a', '']), concepts('', ['kc-a', 'kc-b'])];

async function invalidCount(where: string): Promise<number> {
  const metric = await register.getSingleMetric('grip_graph_invalid_messages_total')?.get();
  return metric?.values.filter((v) => v.labels.where === where && v.labels.topic === 'grip.concepts').reduce((a, v) => a + v.value, 0) ?? 0;
}

describe('concept-graph: malformed concepts messages', () => {
  it('ingest never throws on a malformed KC or seed id and leaves the graph as it was', () => {
    const stage = new ConceptGraphStage({ seed: 1 });
    stage.ingest(concepts('s1', ['kc-a', 'kc-b']));
    for (const poison of POISON) expect(() => stage.ingest(poison)).not.toThrow();
    expect(stage.graph.seedCount).toBe(1);
    expect(stage.ingest(concepts('s2', ['kc-b', 'kc-c']))).toBe('added');
  });

  it('the stage sends each malformed message to the DLQ with its reason', async () => {
    const stage = new ConceptGraphStage({ seed: 1 });
    const before = await invalidCount('stage');
    for (const poison of POISON) expect(stage.check(poison)).toMatchObject({ kind: 'dlq', reason: 'invalid_concepts' });
    expect(stage.check(POISON[0])).toMatchObject({ detail: expect.stringContaining('kc|b') });
    expect(stage.check(concepts('s1', ['kc-a']))).toMatchObject({ kind: 'ok' });
    expect((await invalidCount('stage')) - before).toBe(POISON.length + 1);
  });

  it('the rebuild at start skips malformed messages, counts and logs them, and applies the rest', async () => {
    const stage = new ConceptGraphStage({ seed: 1 });
    const lines: Array<[string, string, Record<string, unknown> | undefined]> = [];
    const log: Logger = (level, message, fields) => void lines.push([level, message, fields]);
    const before = await invalidCount('rebuild');
    const entries = [concepts('s1', ['kc-a', 'kc-b']), ...POISON, concepts('s2', ['kc-b', 'kc-c'])];
    for (const c of entries) stage.rebuild(c, log);
    expect(stage.graph.seedCount).toBe(2);
    expect((await invalidCount('rebuild')) - before).toBe(POISON.length);
    expect(lines.filter(([level]) => level === 'error')).toHaveLength(POISON.length);
    expect(lines[0][2]).toMatchObject({ seed_id: 's-bad-1', detail: expect.stringContaining('kc|b') });
    // A malformed combination in grip.pairs is skipped too.
    expect(stage.markEmitted({ kc_ids: ['kc-a', 'x|y'], kc_names: ['a', 'xy'] }, log)).toBe(false);
    expect(stage.markEmitted({ kc_ids: ['kc-a', 'kc-b'], kc_names: ['a', 'b'] }, log)).toBe(true);
  });
});
