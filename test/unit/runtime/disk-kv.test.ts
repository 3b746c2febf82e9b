import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskKv } from '../../../services/runtime/disk-kv.ts';

const tmpBase = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'grip-kv-')), 'store');
const v = (s: string) => Buffer.from(s, 'utf8');

describe('DiskKv', () => {
  it('keeps every entry across reopen, through several index rebuilds, and replaces on put', () => {
    const base = tmpBase();
    const kv = new DiskKv(base);
    for (let i = 0; i < 5000; i++) kv.put(`key-${i}`, v(`value-${i}`));
    kv.put('key-7', v('replaced'));
    expect(kv.size).toBe(5000);
    kv.close();
    const again = new DiskKv(base);
    expect(again.size).toBe(5000);
    expect(again.openStats.reindexed).toBe(0);
    for (let i = 0; i < 5000; i += 97) if (i !== 7) expect(again.get(`key-${i}`)?.toString()).toBe(`value-${i}`);
    expect(again.get('key-7')?.toString()).toBe('replaced');
    expect(again.get('key-5000')).toBeUndefined();
    expect(again.has('key-4999')).toBe(true);
    // the index file grew to hold 5000 entries at <= 60% load, and nothing of it is kept in memory
    expect(fs.statSync(`${base}.index`).size).toBe(64 + 16384 * 16);
    again.close();
  });

  it('a torn last record (SIGKILL mid-write) is cut off and loses only that entry', () => {
    const base = tmpBase();
    const kv = new DiskKv(base);
    kv.put('a', v('1'));
    kv.put('b', v('2'));
    kv.close();
    const size = fs.statSync(`${base}.data`).size;
    // a process killed while writing its third record: half of the record reached the file
    const fd = fs.openSync(`${base}.data`, 'a');
    fs.writeSync(fd, Buffer.from([40, 0, 0, 0, 1, 2, 3, 4, 1, 0, 0x63]));
    fs.closeSync(fd);
    const again = new DiskKv(base);
    expect(again.openStats.truncatedBytes).toBe(11);
    expect(fs.statSync(`${base}.data`).size).toBe(size);
    expect(again.get('a')?.toString()).toBe('1');
    again.put('c', v('3'));
    again.close();
    const third = new DiskKv(base);
    expect([third.get('b')?.toString(), third.get('c')?.toString(), third.size]).toEqual(['2', '3', 3]);
    third.close();
  });

  it('a record written before the index was (killed between the two writes) is indexed on open', () => {
    const base = tmpBase();
    const kv = new DiskKv(base);
    for (let i = 0; i < 30; i++) kv.put(`k${i}`, v(String(i)));
    kv.close();
    const other = tmpBase();
    const one = new DiskKv(other);
    one.put('late', v('answer'));
    one.close();
    fs.appendFileSync(`${base}.data`, fs.readFileSync(`${other}.data`)); // the data write, without its index write
    const again = new DiskKv(base);
    expect(again.openStats.reindexed).toBe(1);
    expect(again.size).toBe(31);
    expect(again.get('late')?.toString()).toBe('answer');
    again.close();
  });

  it('killed after the index slot was written but before the header: the entry is counted once', () => {
    const base = tmpBase();
    const kv = new DiskKv(base);
    for (let i = 0; i < 30; i++) kv.put(`k${i}`, v(String(i)));
    kv.close();
    const header = Buffer.alloc(64);
    const fd = fs.openSync(`${base}.index`, 'r+');
    fs.readSync(fd, header, 0, 64, 0);
    const more = new DiskKv(base);
    more.put('k30', v('30')); // data, slot and header written; no close()
    fs.writeSync(fd, header, 0, 64, 0); // the header as it was before that put
    fs.closeSync(fd);
    const again = new DiskKv(base);
    expect(again.openStats.reindexed).toBe(1);
    expect([again.size, again.get('k30')?.toString()]).toEqual([31, '30']);
    again.close();
  });

  it('a missing or damaged index is rebuilt from the data file', () => {
    const base = tmpBase();
    const kv = new DiskKv(base);
    for (let i = 0; i < 50; i++) kv.put(`k${i}`, v(String(i)));
    kv.close();
    fs.writeFileSync(`${base}.index`, 'garbage');
    const again = new DiskKv(base);
    expect(again.openStats.rebuilt).toBe(true);
    expect(again.size).toBe(50);
    expect(again.get('k42')?.toString()).toBe('42');
    again.close();
  });
});
