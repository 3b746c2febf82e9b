import { describe, expect, it } from 'vitest';
import { HashSet64, idHash, setHash } from '../../../core/combos/index.ts';

describe('HashSet64', () => {
  it('adds, finds, grows and lists sorted members', () => {
    const s = new HashSet64(4);
    const xs: [number, number][] = [];
    for (let i = 1; i <= 5000; i++) xs.push([(i * 2654435761) >>> 0, (i * 40503) >>> 0]);
    for (const [h, l] of xs) expect(s.add(h, l)).toBe(true);
    for (const [h, l] of xs) expect(s.add(h, l)).toBe(false);
    expect(s.size).toBe(5000);
    for (const [h, l] of xs) expect(s.has(h, l)).toBe(true);
    expect(s.has(12345, 67890)).toBe(false);
    expect(s.add(0, 0)).toBe(true); // the zero hash is stored, as (0, 1)
    expect(s.has(0, 0)).toBe(true);
    const sorted = s.sorted();
    expect(sorted.length).toBe(5001);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i] > sorted[i - 1]).toBe(true);
  });

  it('keeps its load at or below 3/4 (8 bytes a slot)', () => {
    const s = new HashSet64(4);
    for (let i = 1; i <= 3072; i++) s.add((i * 2654435761) >>> 0, i);
    expect(s.bytes).toBe(4096 * 8); // 3072 / 4096 = 0.75
    s.add(1, 0);
    expect(s.bytes).toBe(8192 * 8);
    expect(new HashSet64(3000).bytes).toBe(4096 * 8);
  });
});

describe('setHash', () => {
  it('depends on the KC set only, not on member order or node index', () => {
    const ids = ['kc-a', 'kc-b', 'kc-c', 'kc-d'];
    const hi = new Uint32Array(8);
    const lo = new Uint32Array(8);
    ids.forEach((id, i) => ([hi[i], lo[i]] = idHash(id)));
    ids.forEach((id, i) => ([hi[i + 4], lo[i + 4]] = idHash(id))); // same ids at other indices
    const h = (m: number[]) => {
      const out = new Uint32Array(2);
      setHash(m, hi, lo, out);
      return `${out[0]}:${out[1]}`;
    };
    expect(h([0, 1, 2])).toBe(h([2, 0, 1]));
    expect(h([0, 1, 2])).toBe(h([6, 4, 5]));
    expect(h([0, 1])).not.toBe(h([0, 1, 2]));
    expect(h([0, 1])).not.toBe(h([0, 2]));
  });

  it('has no collisions over 300K distinct pairs and triples', () => {
    const n = 120;
    const hi = new Uint32Array(n);
    const lo = new Uint32Array(n);
    for (let i = 0; i < n; i++) [hi[i], lo[i]] = idHash(`kc-${i}`);
    const seen = new Set<string>();
    const out = new Uint32Array(2);
    let count = 0;
    for (let a = 0; a < n; a++)
      for (let b = a + 1; b < n; b++) {
        setHash([a, b], hi, lo, out);
        seen.add(`${out[0]}:${out[1]}`);
        count++;
        for (let c = b + 1; c < n && count < 300_000; c += 3) {
          setHash([a, b, c], hi, lo, out);
          seen.add(`${out[0]}:${out[1]}`);
          count++;
        }
      }
    expect(seen.size).toBe(count);
  });
});
