/**
 * decide / apply: the split that lets concept-extractor instances share one registry through a log
 * (services/concept-extractor/shared-registry.ts). Every instance applies the same decisions in the
 * same order; the results must not depend on who decided, nor on what the decider had seen.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createKcRegistry, type KcDecision } from '../../../core/concepts/index.ts';

const DIM = 6;
const unit = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

describe('KcRegistry.decide / apply', () => {
  it('decide changes nothing; apply of the decision gives what add gives', async () => {
    const mk = () => createKcRegistry({ search: 'exact', synonymCheck: async (c) => c.name.startsWith('same') });
    const a = mk();
    const b = mk();
    const inputs = [
      { name: 'law of cosines', embedding: unit([1, 0, 0, 0, 0, 0]) },
      { name: 'same as cosines', embedding: unit([0.8, 0.6, 0, 0, 0, 0]) }, // band: asked, yes
      { name: 'other thing', embedding: unit([0.8, 0, 0.6, 0, 0, 0]) }, // band: asked, no
      { name: 'Law of Cosines', embedding: unit([0, 0, 0, 1, 0, 0]) }, // exact spelling
      { name: 'near copy', embedding: unit([0.99, 0.01, 0, 0, 0, 0]) }, // >= 0.90
    ];
    for (const input of inputs) {
      const before = a.exportState();
      const decision = await a.decide(input);
      expect(a.exportState()).toEqual(before);
      expect(a.apply(decision)).toEqual(await b.add(input));
    }
    expect(a.exportState()).toEqual(b.exportState());
  });

  it('a band answer about a cluster the decider had not seen counts as "not the same"', async () => {
    const reg = createKcRegistry({ search: 'exact', synonymThreshold: 0.7 });
    const founded = reg.apply({ name: 'pythagorean theorem', key: 'pythagorean theorem', unit: new Float32Array(unit([1, 0, 0, 0, 0, 0])), asked: [] });
    // Decided elsewhere before that cluster existed: nothing asked.
    const late: KcDecision = { name: 'right triangle rule', key: 'right triangle rule', unit: new Float32Array(unit([0.8, 0.6, 0, 0, 0, 0])), asked: [] };
    const result = reg.apply(late);
    expect(result.outcome).toBe('new');
    expect(result.id).not.toBe(founded.id);
    // ... while a name above the merge threshold joins the cluster founded just before it.
    const close = reg.apply({ name: 'pythagoras theorem', key: 'pythagoras theorem', unit: new Float32Array(unit([0.995, 0.0999, 0, 0, 0, 0])), asked: [] });
    expect(close).toMatchObject({ id: founded.id, outcome: 'embedding' });
  });

  it('replicas applying the same log reach the same registry, whatever each decided from (property)', () => {
    const vec = fc.array(fc.integer({ min: -3, max: 3 }), { minLength: DIM, maxLength: DIM }).filter((v) => v.some((x) => x !== 0));
    const entry = fc.record({ name: fc.constantFrom('alpha', 'beta', 'gamma', 'delta', 'Alpha', 'epsilon'), v: vec, same: fc.boolean() });
    fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 25 }), async (entries) => {
        // Two deciders with different views (one sees everything, one sees nothing) write one log.
        const informed = createKcRegistry({ search: 'exact', synonymThreshold: 0.5, sameThreshold: 0.9 });
        const blind = createKcRegistry({ search: 'exact', synonymThreshold: 0.5, sameThreshold: 0.9 });
        const log: KcDecision[] = [];
        for (const [i, e] of entries.entries()) {
          const decider = i % 2 === 0 ? informed : blind;
          const d = await decider.decide({ name: e.name, embedding: e.v });
          log.push(d.unit ? d : { ...d, unit: new Float32Array(unit(e.v)) });
          informed.apply(log[log.length - 1]!);
        }
        const replicaA = createKcRegistry({ search: 'exact', synonymThreshold: 0.5, sameThreshold: 0.9 });
        const replicaB = createKcRegistry({ search: 'exact', synonymThreshold: 0.5, sameThreshold: 0.9 });
        const resultsA = log.map((d) => replicaA.apply(d).id);
        const resultsB = log.map((d) => replicaB.apply(d).id);
        expect(resultsA).toEqual(resultsB);
        expect(replicaA.exportState()).toEqual(informed.exportState());
      }),
      { numRuns: 100 },
    );
  });
});
