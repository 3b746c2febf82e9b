/**
 * Normalization of key-concept (KC) names into a matching key. The key is only used to decide
 * "same name?"; the registry keeps the original spelling for display. Rules, in order:
 *
 *  1. Unicode NFKC (full-width letters, ligatures, superscript digits fold to plain forms);
 *     curly quotes become straight quotes.
 *  2. LaTeX noise: `$`, `\(`, `\)`, `\[`, `\]` math delimiters are dropped; spacing commands
 *     (`\,` `\;` `\:` `\!` `\ ` `~` `\quad` `\qquad`) become a space; `\left` / `\right` are dropped;
 *     `\text{..}`, `\mathrm{..}`, `\textbf{..}`, `\operatorname{..}` are unwrapped to their content.
 *  3. Lower case.
 *  4. A leading list marker (`- `, `* `, `• `, `1. `, `2) `) and surrounding quotes, backticks and
 *     markdown emphasis are removed; trailing `. , ; :` are trimmed. `!` and `?` are kept
 *     (`n!` is a concept).
 *  5. Plural -> singular, per word, conservatively (see `singularize`): only words of ASCII letters
 *     with at least 4 letters, never a LaTeX command name, never a protected word.
 *  6. Whitespace is collapsed, and removed next to operator symbols, so `a^2 + b^2` == `a^2+b^2`.
 */

/** Irregular plurals common in mathematics. */
const IRREGULAR: Record<string, string> = {
  vertices: 'vertex',
  matrices: 'matrix',
  indices: 'index',
  apices: 'apex',
  simplices: 'simplex',
  radii: 'radius',
  foci: 'focus',
  loci: 'locus',
  axes: 'axis',
  hypotheses: 'hypothesis',
  parentheses: 'parenthesis',
  analyses: 'analysis',
  ellipses: 'ellipse',
  polyhedra: 'polyhedron',
  criteria: 'criterion',
  formulae: 'formula',
  abscissae: 'abscissa',
  halves: 'half',
};

/**
 * Words that end in `s` but are not plurals (or whose singular is ambiguous: `bases` is the
 * plural of both `base` and `basis`, `odds` is a probability term of its own).
 */
const PROTECTED = new Set([
  'series', 'species', 'means', 'odds', 'bases', 'news', 'lens', 'gas', 'bus', 'yes', 'this', 'thus', 'has', 'was',
  'pythagoras', 'archimedes', 'descartes', 'stokes', 'bayes', 'thales', 'euclides', 'hermes', 'pappus', 'jones',
  'does', 'less', 'unless', 'plus', 'minus', 'versus', 'whereas', 'always', 'perhaps', 'towards', 'sometimes',
]);

/** Endings that mark a singular word (`axis`, `locus`, `class`, `physics`, `continuous`). */
const SINGULAR_ENDINGS = ['ss', 'us', 'is', 'ics', 'ous'];

/** Singular form of one lower-case word, or the word itself when it is not safely a plural. */
export function singularize(word: string): string {
  const irregular = IRREGULAR[word];
  if (irregular) return irregular;
  if (!/^[a-z]+$/.test(word) || word.length < 4 || PROTECTED.has(word)) return word;
  if (SINGULAR_ENDINGS.some((e) => word.endsWith(e))) return word;
  if (!word.endsWith('s')) return word;
  if (word.endsWith('ies') && word.length > 4) return `${word.slice(0, -3)}y`; // properties -> property
  if (/(?:ss|x|ch|sh|zz)es$/.test(word)) return word.slice(0, -2); // classes -> class, boxes -> box
  return word.slice(0, -1); // theorems -> theorem, parabolas -> parabola, cases -> case
}

const UNWRAP_COMMANDS = /\\(?:text|textbf|textit|mathrm|mathbf|mathit|operatorname)\s*\{([^{}]*)\}/g;
const SPACING = /\\(?:qquad|quad)(?![a-zA-Z])|\\[,;:! ]|~/g;
const OPERATOR_SPACE = /\s*([=+\-*/^_<>{}()[\]|,])\s*/g;

export function normalizeKcName(name: string): string {
  if (typeof name !== 'string') throw new TypeError(`normalizeKcName: expected a string, got ${typeof name}`);
  let s = name.normalize('NFKC').replace(/[\u2018\u2019\u201b\u2032]/g, "'").replace(/[\u201c\u201d\u201f]/g, '"');
  s = s.replace(UNWRAP_COMMANDS, ' $1 ');
  s = s.replace(/\\left(?![a-zA-Z])|\\right(?![a-zA-Z])/g, '');
  s = s.replace(/\\[()[\]]/g, ' ').replace(/\$/g, ' ');
  s = s.replace(SPACING, ' ');
  s = s.toLowerCase().replace(/\s+/g, ' ').trim();
  s = s.replace(/^(?:[-*\u2022]|\d+[.)])\s+/, '');
  s = s.replace(/^["'`*_]+|["'`*_]+$/g, '').replace(/[.,;:]+$/, '').trim();
  // Words preceded by a backslash are LaTeX commands (\cos, \angle): never touched.
  s = s.replace(/(\\?)([a-z]+)/g, (match, slash: string, word: string) => (slash ? match : singularize(word)));
  s = s.replace(OPERATOR_SPACE, '$1').replace(/\s+/g, ' ').trim();
  return s;
}
