/**
 * A small on-disk key-value store: an append-only data file plus an on-disk hash index, both read
 * with positioned reads, so opening it costs the same with ten entries or ten million and its memory
 * does not grow with its size. Used for the LLM answer cache (file-llm-cache.ts); generic (string
 * keys, byte values) so other per-key memories can use it too.
 *
 * Files, for a base path B:
 * - `B.data`: records `[u32 length][u32 crc32][u16 key length][key][value]` (length and crc cover
 *   everything after the crc), appended in order. A record cut by SIGKILL fails its length or crc
 *   check and is cut off on the next open: a crash loses at most the entry being written.
 * - `B.index`: a header (magic, slot count, entry count, how far into B.data the index is complete)
 *   and open-addressing slots of 16 bytes `[u32 tag hi][u32 tag lo][u48 data offset][u16 0]`, the
 *   tag being 64 bits of the key's md5 (0 = empty). A probe reads a few slots, then the record, and
 *   compares the key itself, so a tag collision costs a read, never a wrong answer. The slot is
 *   written after the record, and the header's watermark only every `HEADER_EVERY` writes: on open,
 *   records past the watermark are indexed again (idempotent), which also repairs an index that
 *   missed the last record before a crash. At 60% load the index is rebuilt at twice the size into
 *   a temporary file and renamed over the old one (a crash meanwhile leaves the old one whole).
 *
 * One writer per store (one process): two processes appending to one store would interleave records.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';

const MAGIC = 0x31564b47; // "GKV1"
const HEADER_BYTES = 64;
const SLOT_BYTES = 16;
const RECORD_HEAD = 10; // u32 length, u32 crc, u16 key length
const MAX_KEY_BYTES = 0xffff;
const INITIAL_SLOTS = 1024;
const MAX_LOAD = 0.6;
/** Slots read per probe step: most lookups end within the first few. */
const PROBE_SLOTS = 8;

interface Tag {
  hi: number;
  lo: number;
}

function tagOf(key: Buffer): Tag {
  const d = createHash('md5').update(key).digest();
  const hi = d.readUInt32LE(0);
  const lo = d.readUInt32LE(4);
  return hi === 0 && lo === 0 ? { hi: 0, lo: 1 } : { hi, lo };
}

export interface DiskKvOpenStats {
  /** Records past the index's watermark that were indexed on open (a crash before the header was written). */
  reindexed: number;
  /** Bytes of a torn last record that were cut off. */
  truncatedBytes: number;
  /** The index was missing or unreadable and was rebuilt from the data file. */
  rebuilt: boolean;
}

export class DiskKv {
  readonly dataFile: string;
  readonly indexFile: string;
  private readonly dataFd: number;
  private indexFd = -1;
  private dataSize: number;
  private slots = 0;
  private count = 0;
  private closed = false;
  readonly openStats: DiskKvOpenStats = { reindexed: 0, truncatedBytes: 0, rebuilt: false };

  constructor(base: string) {
    fs.mkdirSync(path.dirname(base), { recursive: true });
    this.dataFile = `${base}.data`;
    this.indexFile = `${base}.index`;
    this.dataFd = fs.openSync(this.dataFile, fs.existsSync(this.dataFile) ? 'r+' : 'w+');
    this.dataSize = fs.fstatSync(this.dataFd).size;
    let watermark = this.openIndex();
    if (watermark === undefined || watermark > this.dataSize) {
      this.openStats.rebuilt = fs.existsSync(this.indexFile);
      this.indexFd = this.createIndex(this.indexFile, INITIAL_SLOTS);
      this.slots = INITIAL_SLOTS;
      this.count = 0;
      watermark = 0;
    }
    this.catchUp(watermark);
  }

  /** Entries of the store at `base` as its index header says, read without opening it (another process may be writing it); 0 when there is none. */
  static countAt(base: string): number {
    try {
      const fd = fs.openSync(`${base}.index`, 'r');
      const h = Buffer.alloc(HEADER_BYTES);
      const read = fs.readSync(fd, h, 0, HEADER_BYTES, 0);
      fs.closeSync(fd);
      return read === HEADER_BYTES && h.readUInt32LE(0) === MAGIC ? h.readUIntLE(16, 6) : 0;
    } catch {
      return 0;
    }
  }

  /** Entries stored (distinct keys). */
  get size(): number {
    return this.count;
  }

  get(key: string): Buffer | undefined {
    const found = this.find(Buffer.from(key, 'utf8'));
    return found?.value;
  }

  has(key: string): boolean {
    return this.find(Buffer.from(key, 'utf8')) !== undefined;
  }

  /** Stores `value` under `key`; a later put of the same key replaces it (the old record stays in the data file). */
  put(key: string, value: Buffer): void {
    if (this.closed) throw new Error(`${this.dataFile}: store is closed`);
    const k = Buffer.from(key, 'utf8');
    if (k.length > MAX_KEY_BYTES) throw new RangeError(`key has ${k.length} bytes (limit ${MAX_KEY_BYTES})`);
    const offset = this.dataSize;
    const record = Buffer.allocUnsafe(RECORD_HEAD + k.length + value.length);
    record.writeUInt32LE(record.length - 8, 0);
    record.writeUInt16LE(k.length, 8);
    k.copy(record, RECORD_HEAD);
    value.copy(record, RECORD_HEAD + k.length);
    record.writeUInt32LE(crc32(record.subarray(8)), 4);
    writeFully(this.dataFd, record, offset);
    this.dataSize += record.length;
    this.index(k, offset);
    this.writeHeader();
  }

  /** Writes the index header (entry count, watermark) and closes the files. */
  close(): void {
    if (this.closed) return;
    this.writeHeader();
    fs.closeSync(this.dataFd);
    fs.closeSync(this.indexFd);
    this.closed = true;
  }

  private find(k: Buffer): { slot: number; offset: number; value: Buffer } | undefined {
    const tag = tagOf(k);
    const buf = Buffer.allocUnsafe(PROBE_SLOTS * SLOT_BYTES);
    let slot = tag.lo & (this.slots - 1);
    for (let probed = 0; probed < this.slots; ) {
      const n = Math.min(PROBE_SLOTS, this.slots - slot);
      fs.readSync(this.indexFd, buf, 0, n * SLOT_BYTES, HEADER_BYTES + slot * SLOT_BYTES);
      for (let i = 0; i < n; i++, probed++) {
        const hi = buf.readUInt32LE(i * SLOT_BYTES);
        const lo = buf.readUInt32LE(i * SLOT_BYTES + 4);
        if (hi === 0 && lo === 0) return undefined;
        if (hi !== tag.hi || lo !== tag.lo) continue;
        const offset = buf.readUIntLE(i * SLOT_BYTES + 8, 6);
        const rec = this.readRecord(offset);
        if (rec && rec.key.equals(k)) return { slot: slot + i, offset, value: rec.value };
      }
      slot = (slot + n) & (this.slots - 1);
    }
    return undefined;
  }

  /** The record at `offset`, or undefined when it is cut short or fails its crc. */
  private readRecord(offset: number): { key: Buffer; value: Buffer; length: number } | undefined {
    if (offset + RECORD_HEAD > this.dataSize) return undefined;
    const head = Buffer.allocUnsafe(RECORD_HEAD);
    fs.readSync(this.dataFd, head, 0, RECORD_HEAD, offset);
    const length = head.readUInt32LE(0);
    const keyLength = head.readUInt16LE(8);
    if (length < 2 + keyLength || offset + 8 + length > this.dataSize) return undefined;
    const body = Buffer.allocUnsafe(length);
    fs.readSync(this.dataFd, body, 0, length, offset + 8);
    if (crc32(body) !== head.readUInt32LE(4)) return undefined;
    return { key: body.subarray(2, 2 + keyLength), value: body.subarray(2 + keyLength), length: 8 + length };
  }

  private index(k: Buffer, offset: number): void {
    const existing = this.find(k);
    if (existing) {
      this.writeSlot(this.indexFd, existing.slot, tagOf(k), offset);
      return;
    }
    if ((this.count + 1) / this.slots > MAX_LOAD) this.grow();
    this.insertSlot(this.indexFd, this.slots, tagOf(k), offset);
    this.count++;
  }

  private insertSlot(fd: number, slots: number, tag: Tag, offset: number): void {
    const one = Buffer.allocUnsafe(8);
    let slot = tag.lo & (slots - 1);
    for (;;) {
      fs.readSync(fd, one, 0, 8, HEADER_BYTES + slot * SLOT_BYTES);
      if (one.readUInt32LE(0) === 0 && one.readUInt32LE(4) === 0) break;
      slot = (slot + 1) & (slots - 1);
    }
    this.writeSlot(fd, slot, tag, offset);
  }

  private writeSlot(fd: number, slot: number, tag: Tag, offset: number): void {
    const s = Buffer.alloc(SLOT_BYTES);
    s.writeUInt32LE(tag.hi, 0);
    s.writeUInt32LE(tag.lo, 4);
    s.writeUIntLE(offset, 8, 6);
    writeFully(fd, s, HEADER_BYTES + slot * SLOT_BYTES);
  }

  /** Rehashes every slot into an index twice the size, built in memory, written beside, renamed over. */
  private grow(): void {
    const slots = this.slots * 2;
    const table = Buffer.alloc(slots * SLOT_BYTES);
    const chunk = Buffer.allocUnsafe(4096 * SLOT_BYTES);
    for (let start = 0; start < this.slots; start += 4096) {
      const n = Math.min(4096, this.slots - start);
      fs.readSync(this.indexFd, chunk, 0, n * SLOT_BYTES, HEADER_BYTES + start * SLOT_BYTES);
      for (let i = 0; i < n; i++) {
        const hi = chunk.readUInt32LE(i * SLOT_BYTES);
        const lo = chunk.readUInt32LE(i * SLOT_BYTES + 4);
        if (hi === 0 && lo === 0) continue;
        let slot = lo & (slots - 1);
        while (table.readUInt32LE(slot * SLOT_BYTES) !== 0 || table.readUInt32LE(slot * SLOT_BYTES + 4) !== 0) slot = (slot + 1) & (slots - 1);
        chunk.copy(table, slot * SLOT_BYTES, i * SLOT_BYTES, (i + 1) * SLOT_BYTES);
      }
    }
    const tmp = `${this.indexFile}.tmp`;
    const fd = fs.openSync(tmp, 'w+');
    writeFully(fd, this.header(slots, this.count, this.dataSize), 0);
    writeFully(fd, table, HEADER_BYTES);
    fs.fsyncSync(fd);
    fs.renameSync(tmp, this.indexFile);
    fs.closeSync(this.indexFd);
    this.indexFd = fd;
    this.slots = slots;
  }

  private header(slots: number, count: number, watermark: number): Buffer {
    const h = Buffer.alloc(HEADER_BYTES);
    h.writeUInt32LE(MAGIC, 0);
    h.writeUInt32LE(1, 4);
    h.writeUIntLE(slots, 8, 6);
    h.writeUIntLE(count, 16, 6);
    h.writeUIntLE(watermark, 24, 6);
    return h;
  }

  private writeHeader(): void {
    writeFully(this.indexFd, this.header(this.slots, this.count, this.dataSize), 0);
  }

  /** Opens an existing index; returns its watermark, or undefined when there is none usable. */
  private openIndex(): number | undefined {
    if (!fs.existsSync(this.indexFile)) return undefined;
    const fd = fs.openSync(this.indexFile, 'r+');
    const h = Buffer.alloc(HEADER_BYTES);
    const read = fs.readSync(fd, h, 0, HEADER_BYTES, 0);
    const slots = read === HEADER_BYTES ? h.readUIntLE(8, 6) : 0;
    const sizeOk = fs.fstatSync(fd).size === HEADER_BYTES + slots * SLOT_BYTES;
    if (h.readUInt32LE(0) !== MAGIC || slots < 1 || (slots & (slots - 1)) !== 0 || !sizeOk) {
      fs.closeSync(fd);
      return undefined;
    }
    this.indexFd = fd;
    this.slots = slots;
    this.count = h.readUIntLE(16, 6);
    return h.readUIntLE(24, 6);
  }

  private createIndex(file: string, slots: number): number {
    const fd = fs.openSync(file, 'w+');
    writeFully(fd, this.header(slots, 0, 0), 0);
    fs.ftruncateSync(fd, HEADER_BYTES + slots * SLOT_BYTES);
    return fd;
  }

  /** Indexes the records written after `from` and cuts off a torn last record. */
  private catchUp(from: number): void {
    let offset = from;
    while (offset < this.dataSize) {
      const rec = this.readRecord(offset);
      if (!rec) {
        this.openStats.truncatedBytes = this.dataSize - offset;
        fs.ftruncateSync(this.dataFd, offset);
        this.dataSize = offset;
        break;
      }
      const key = Buffer.from(rec.key);
      // Killed after the slot was written but before the header: the slot is there, the count is
      // not. (A replaced key's record is not told apart from a new one here: its count may be one high.)
      if (this.find(key)?.offset === offset) this.count++;
      else this.index(key, offset);
      this.openStats.reindexed++;
      offset += rec.length;
    }
    this.writeHeader();
  }
}

function writeFully(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, position + done);
}
