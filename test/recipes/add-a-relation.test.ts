/**
 * Recipe: add a relation type. A contributor who wants a new kind of combination (here "antipodal":
 * two KCs at the largest distance in their component) edits:
 *
 *   1. core/combos/types.ts           adds 'antipodal' to EXTENSION_RELATIONS (the closed union Relation)
 *   2. core/combos/sources/antipodal.ts  its RelationSource (prepare, draw, sweep, freshFor)
 *   3. core/combos/sampler.ts         registers the source; `Record<Relation, RelationSource>` does not
 *                                     compile until it does
 *   4. core/prompts/templates.ts      its hint in RELATION_HINTS: `Record<Relation, string>` does not
 *                                     compile until it has one
 *
 * No stage, schema or table changes: a combination's relation is a string field everywhere it is
 * stored. What the recipe must not break: the prompts and cached answers of the existing relations.
 * This test checks that with the hint table the prompts are built from, and that every relation the
 * sampler knows has a hint and a synthesis prompt, in every domain pack.
 */
import { describe, expect, it } from 'vitest';
import { RELATIONS } from '../../core/combos/index.ts';
import { buildPromptSet, RELATION_HINTS } from '../../core/prompts/index.ts';
import { listDomains, loadDomain } from '../../services/runtime/domains.ts';

describe('recipe: add a relation type', () => {
  it('a new relation gets its own synthesis prompt and leaves every existing relation`s prompt version unchanged', () => {
    const before = buildPromptSet();
    const after = buildPromptSet(undefined, { ...RELATION_HINTS, antipodal: 'These concepts lie far apart in the concept graph; find one setting that needs both.' });
    for (const relation of RELATIONS) expect(after.problem_synthesis[relation].version, relation).toBe(before.problem_synthesis[relation].version);
    expect(after.problem_synthesis.antipodal.version).not.toBe(before.problem_synthesis['1-hop'].version);
    const rendered = after.problem_synthesis.antipodal.render({ kcs: ['law of sines', 'modular inverse'] });
    expect(rendered.at(-1)!.content).toContain('far apart in the concept graph');
  });

  it('every relation the sampler yields has a hint and a synthesis prompt in every domain pack', () => {
    expect(Object.keys(RELATION_HINTS).sort()).toEqual([...RELATIONS].sort());
    for (const name of listDomains()) {
      const prompts = loadDomain(name).prompts;
      for (const relation of RELATIONS) expect(prompts.problem_synthesis[relation], `${name}: ${relation}`).toBeDefined();
    }
  });
});
