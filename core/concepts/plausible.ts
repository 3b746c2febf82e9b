/**
 * A rule-based first pass of the paper's KC quality filter: names that cannot be a mathematical
 * concept whatever the problem (a lone letter or number, a placeholder such as "concept") are
 * dropped before any model is asked. Small models produce them; big ones rarely do.
 */
import { normalizeKcName } from './normalize.ts';

const PLACEHOLDERS = new Set([
  'concept', 'key concept', 'math concept', 'mathematical concept', 'concept name', 'name',
  'math', 'mathematics', 'problem', 'solution', 'answer', 'formula', 'theorem', 'property',
  'number', 'value', 'equation', 'calculation', 'step', 'example', 'none', 'n/a', 'unknown',
  'same', 'different', 'yes', 'true', 'false', 'keep', 'drop', 'representative',
]);

/** Why a name is not a KC, or null when it may be one. */
export function implausibleKcName(name: string): string | null {
  const key = normalizeKcName(name);
  const letters = (key.match(/\p{L}/gu) ?? []).length;
  if (letters < 3) return 'not a concept name (too short or no words)';
  if (PLACEHOLDERS.has(key)) return 'not a concept name (a generic placeholder)';
  return null;
}
