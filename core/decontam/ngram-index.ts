/**
 * Benchmark decontamination by word n-gram overlap, as the paper measures it: text lowercased,
 * punctuation removed, then 8-, 10- and 13-grams (configurable) compared with the benchmark items.
 *
 * Normalization (normalizeForDecontam): NFKC, lower case, every character that is not a letter, digit or
 * whitespace is DELETED (not replaced by a space: "x^2+1" -> "x21", "don't" -> "dont"), then split on
 * whitespace. Deleting rather than spacing is the literal "punctuation removed" and keeps LaTeX-heavy
 * formulas as single tokens.
 *
 * Memory: words become integer ids through one vocabulary Map (benchmark words only; a candidate word
 * outside it can never match). Each n-gram is a 53-bit hash of its word ids, stored in an open-addressing
 * table (Float64Array keys + Int32Array posting heads, load <= 0.5) with postings (item, next) in Int32Arrays:
 * about 32 bytes per distinct n-gram. The token ids of every item are kept (4 bytes per word) so that the
 * longest overlap is computed exactly, word by word, for the items an n-gram hit points at.
 */
import { createHash } from 'node:crypto';

export interface BenchmarkRecord {
  id: string;
  text: string;
  source: string;
}

export interface OverlapMatch {
  id: string;
  source: string;
}

export interface ContaminationResult {
  contaminated: boolean;
  /** Longest run of consecutive words shared with one benchmark item (0 when no n-gram hit). */
  longestOverlap: number;
  match: OverlapMatch | null;
  /** The n's with at least one hit, ascending. */
  hitNs: number[];
  /** Per n, the sources hit. */
  hitsByN: Record<number, string[]>;
}

export interface RateRow {
  /** Share of corpus items with at least one n-gram overlap, per n, and for any n. */
  byN: Record<number, number>;
  any: number;
  items: number;
}

export interface ContaminationRates {
  items: number;
  ns: number[];
  overall: RateRow;
  bySource: Record<string, RateRow>;
}

export function normalizeForDecontam(text: string): string[] {
  if (typeof text !== 'string') throw new TypeError(`decontam: expected text to be a string, got ${typeof text}`);
  const cleaned = text.normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{N}\s]+/gu, '');
  return cleaned.split(/\s+/).filter(Boolean);
}

const TWO_32 = 4294967296;
const HIGH_MASK = 0x1fffff; // 21 bits: 21 + 32 = 53, exact in a double

function mix(h: number, x: number, mult: number): number {
  h = Math.imul(h ^ x, mult);
  return (h ^ (h >>> 15)) >>> 0;
}

/** 53-bit hash of tokens[start .. start+n), salted by n so that equal prefixes of different n differ. */
function ngramHash(tokens: Int32Array, start: number, n: number): number {
  let a = 0x811c9dc5 ^ n;
  let b = 0x9e3779b9 ^ Math.imul(n, 0x85ebca6b);
  for (let i = start; i < start + n; i++) {
    a = mix(a, tokens[i], 0x01000193);
    b = mix(b, tokens[i] + 0x7f4a7c15, 0xc2b2ae35);
  }
  return (a & HIGH_MASK) * TWO_32 + b;
}

/** What an index was built from: its sources, item count and a hash of every item (id, source, text). */
export interface NgramIndexFingerprint {
  ns: number[];
  sources: string[];
  items: number;
  sha256: string;
}

export class NgramIndex {
  readonly ns: number[];
  /** Running hash of the records added, in order: the index's content, for settings versions. */
  private readonly content = createHash('sha256');
  private fingerprintMemo: NgramIndexFingerprint | undefined;
  private readonly vocab = new Map<string, number>();
  private readonly records: { id: string; source: string }[] = [];
  private tokenStore = new Int32Array(1024);
  private tokenOffsets: number[] = [0];
  private keys = new Float64Array(1024).fill(-1);
  private heads = new Int32Array(1024);
  private used = 0;
  private postingItem = new Int32Array(1024);
  private postingNext = new Int32Array(1024);
  private postings = 0;

  constructor(ns: number[] = [8, 10, 13]) {
    if (!Array.isArray(ns) || ns.length === 0 || ns.some((n) => !Number.isInteger(n) || n < 1)) {
      throw new RangeError(`n-gram sizes must be positive integers, got ${JSON.stringify(ns)}`);
    }
    this.ns = [...new Set(ns)].sort((a, b) => a - b);
  }

  get size(): number {
    return this.records.length;
  }

  get distinctNgrams(): number {
    return this.used;
  }

  /** Bytes held by the typed arrays (vocabulary strings not included). */
  get typedBytes(): number {
    return this.keys.byteLength + this.heads.byteLength + this.postingItem.byteLength + this.postingNext.byteLength + this.tokenStore.byteLength;
  }

  add(record: BenchmarkRecord): void {
    if (!record || typeof record.id !== 'string' || typeof record.text !== 'string' || typeof record.source !== 'string') {
      throw new TypeError(`decontam: a benchmark record needs string id, text and source, got ${JSON.stringify(record)?.slice(0, 200)}`);
    }
    const item = this.records.length;
    this.records.push({ id: record.id, source: record.source });
    this.content.update(`${JSON.stringify([record.source, record.id, record.text])}\n`);
    this.fingerprintMemo = undefined;
    const words = normalizeForDecontam(record.text);
    const tokens = new Int32Array(words.length);
    words.forEach((w, i) => {
      let id = this.vocab.get(w);
      if (id === undefined) this.vocab.set(w, (id = this.vocab.size));
      tokens[i] = id;
    });
    this.appendTokens(tokens);
    for (const n of this.ns) for (let i = 0; i + n <= tokens.length; i++) this.insert(ngramHash(tokens, i, n), item);
  }

  /**
   * The content of the index: another benchmark file, an edited item or other n-gram sizes give
   * another fingerprint (the judge's config version includes it, so a replay with other sets
   * re-judges instead of returning the old verdicts).
   */
  /** Items indexed per benchmark source. */
  itemsBySource(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.records) out[r.source] = (out[r.source] ?? 0) + 1;
    return out;
  }

  fingerprint(): NgramIndexFingerprint {
    this.fingerprintMemo ??= { ns: [...this.ns], sources: [...new Set(this.records.map((r) => r.source))].sort(), items: this.records.length, sha256: this.content.copy().digest('hex') };
    return { ...this.fingerprintMemo, ns: [...this.fingerprintMemo.ns], sources: [...this.fingerprintMemo.sources] };
  }

  addAll(records: Iterable<BenchmarkRecord>): void {
    for (const r of records) this.add(r);
  }

  check(text: string): ContaminationResult {
    const words = normalizeForDecontam(text);
    const tokens = Int32Array.from(words, (w) => this.vocab.get(w) ?? -1);
    const hitItems = new Set<number>();
    const hitsByN: Record<number, string[]> = {};
    for (const n of this.ns) {
      const sources = new Set<string>();
      for (let i = 0; i + n <= tokens.length; i++) {
        let known = true;
        for (let j = i; j < i + n; j++) if (tokens[j] < 0) { known = false; break; }
        if (!known) continue;
        for (let p = this.lookup(ngramHash(tokens, i, n)); p !== -1; p = this.postingNext[p]) {
          const item = this.postingItem[p];
          hitItems.add(item);
          sources.add(this.records[item].source);
        }
      }
      if (sources.size) hitsByN[n] = [...sources].sort();
    }
    let longest = 0;
    let match: OverlapMatch | null = null;
    for (const item of [...hitItems].sort((a, b) => a - b)) {
      const run = longestCommonRun(tokens, this.tokensOf(item));
      if (run > longest) {
        longest = run;
        match = { ...this.records[item] };
      }
    }
    const hitNs = Object.keys(hitsByN).map(Number).sort((a, b) => a - b);
    return { contaminated: hitNs.length > 0, longestOverlap: longest, match, hitNs, hitsByN };
  }

  /** The paper's contamination rates: share of corpus items with any n-gram overlap, per n and source. */
  contaminationRates(corpusTexts: Iterable<string>): ContaminationRates {
    const counts = new Map<string, { byN: Map<number, number>; any: number }>();
    const bump = (key: string, ns: number[]) => {
      let c = counts.get(key);
      if (!c) counts.set(key, (c = { byN: new Map(), any: 0 }));
      for (const n of ns) c.byN.set(n, (c.byN.get(n) ?? 0) + 1);
      if (ns.length) c.any++;
    };
    let items = 0;
    for (const text of corpusTexts) {
      items++;
      const r = this.check(text);
      bump('\u0000overall', r.hitNs);
      const bySource = new Map<string, number[]>();
      for (const n of r.hitNs) for (const s of r.hitsByN[n]) bySource.set(s, [...(bySource.get(s) ?? []), n]);
      for (const [s, ns] of bySource) bump(s, ns);
    }
    const row = (key: string): RateRow => {
      const c = counts.get(key);
      const byN: Record<number, number> = {};
      for (const n of this.ns) byN[n] = items ? (c?.byN.get(n) ?? 0) / items : 0;
      return { byN, any: items && c ? c.any / items : 0, items };
    };
    const sources = [...new Set(this.records.map((r) => r.source))].sort();
    return { items, ns: [...this.ns], overall: row('\u0000overall'), bySource: Object.fromEntries(sources.map((s) => [s, row(s)])) };
  }

  private tokensOf(item: number): Int32Array {
    return this.tokenStore.subarray(this.tokenOffsets[item], this.tokenOffsets[item + 1]);
  }

  private appendTokens(tokens: Int32Array): void {
    const end = this.tokenOffsets[this.tokenOffsets.length - 1];
    if (end + tokens.length > this.tokenStore.length) {
      const grown = new Int32Array(Math.max(this.tokenStore.length * 2, end + tokens.length));
      grown.set(this.tokenStore.subarray(0, end));
      this.tokenStore = grown;
    }
    this.tokenStore.set(tokens, end);
    this.tokenOffsets.push(end + tokens.length);
  }

  private slot(key: number): number {
    const mask = this.keys.length - 1;
    let i = (key % TWO_32 >>> 0) & mask;
    while (this.keys[i] !== -1 && this.keys[i] !== key) i = (i + 1) & mask;
    return i;
  }

  private lookup(key: number): number {
    const i = this.slot(key);
    return this.keys[i] === key ? this.heads[i] : -1;
  }

  private insert(key: number, item: number): void {
    let i = this.slot(key);
    if (this.keys[i] === key) {
      if (this.postingItem[this.heads[i]] === item) return; // repeated n-gram within one item
    } else {
      if ((this.used + 1) * 2 > this.keys.length) {
        this.rehash();
        i = this.slot(key);
      }
      this.keys[i] = key;
      this.heads[i] = -1;
      this.used++;
    }
    if (this.postings === this.postingItem.length) {
      const items = new Int32Array(this.postings * 2);
      items.set(this.postingItem);
      const next = new Int32Array(this.postings * 2);
      next.set(this.postingNext);
      this.postingItem = items;
      this.postingNext = next;
    }
    const p = this.postings++;
    this.postingItem[p] = item;
    this.postingNext[p] = this.heads[i];
    this.heads[i] = p;
  }

  private rehash(): void {
    const oldKeys = this.keys;
    const oldHeads = this.heads;
    this.keys = new Float64Array(oldKeys.length * 2).fill(-1);
    this.heads = new Int32Array(oldKeys.length * 2);
    for (let j = 0; j < oldKeys.length; j++) {
      if (oldKeys[j] === -1) continue;
      const i = this.slot(oldKeys[j]);
      this.keys[i] = oldKeys[j];
      this.heads[i] = oldHeads[j];
    }
  }
}

/** Length of the longest run of equal consecutive tokens (longest common substring, in words). */
export function longestCommonRun(a: Int32Array, b: Int32Array): number {
  let best = 0;
  let prev = new Int32Array(b.length + 1);
  let cur = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    if (a[i - 1] < 0) {
      cur.fill(0);
    } else {
      for (let j = 1; j <= b.length; j++) {
        cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : 0;
        if (cur[j] > best) best = cur[j];
      }
    }
    [prev, cur] = [cur, prev];
  }
  return best;
}

export function createNgramIndex(records: Iterable<BenchmarkRecord> = [], ns: number[] = [8, 10, 13]): NgramIndex {
  const index = new NgramIndex(ns);
  index.addAll(records);
  return index;
}
