/** Small binary writer/reader (unsigned LEB128 varints, UTF-8 strings, FNV-1a checksum) for codecs. */
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export class ByteWriter {
  private buf = new Uint8Array(1024);
  private len = 0;

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + extra) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  u8(x: number): void {
    this.ensure(1);
    this.buf[this.len++] = x & 0xff;
  }
  u32(x: number): void {
    this.ensure(4);
    this.buf[this.len++] = x & 0xff;
    this.buf[this.len++] = (x >>> 8) & 0xff;
    this.buf[this.len++] = (x >>> 16) & 0xff;
    this.buf[this.len++] = (x >>> 24) & 0xff;
  }
  /** Unsigned integer up to 2^53 as LEB128. */
  varint(x: number): void {
    if (!Number.isSafeInteger(x) || x < 0) throw new RangeError(`varint: not a non-negative safe integer: ${x}`);
    this.ensure(8);
    while (x >= 0x80) {
      this.buf[this.len++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.buf[this.len++] = x;
  }
  string(s: string): void {
    const b = encoder.encode(s);
    this.varint(b.length);
    this.bytes(b);
  }
  /** The written bytes followed by a 4-byte FNV-1a checksum of them. */
  finishWithChecksum(): Uint8Array {
    const sum = fnv1a(this.buf.subarray(0, this.len));
    this.u32(sum);
    return this.buf.slice(0, this.len);
  }
}

export class ByteReader {
  private pos = 0;
  private readonly end: number;

  /** Verifies magic, format version and checksum; `what` names the format in error messages. */
  constructor(private readonly buf: Uint8Array, private readonly what: string, magic: string, version: number) {
    if (!(buf instanceof Uint8Array)) throw new TypeError(`${what}: expected a Uint8Array`);
    const m = encoder.encode(magic);
    if (buf.length < m.length + 1 + 4) throw new Error(`${what}: ${buf.length} bytes is too short to be valid`);
    for (let i = 0; i < m.length; i++) {
      if (buf[i] !== m[i]) throw new Error(`${what}: bad magic header (not a ${magic} payload)`);
    }
    const v = buf[m.length];
    if (v !== version) throw new Error(`${what}: unsupported format version ${v} (this build reads version ${version})`);
    this.end = buf.length - 4;
    const stored = (buf[this.end] | (buf[this.end + 1] << 8) | (buf[this.end + 2] << 16) | (buf[this.end + 3] << 24)) >>> 0;
    if (fnv1a(buf.subarray(0, this.end)) !== stored) throw new Error(`${what}: checksum mismatch (corrupted bytes)`);
    this.pos = m.length + 1;
  }
  private need(n: number): void {
    if (this.pos + n > this.end) throw new Error(`${this.what}: truncated at byte ${this.pos}`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  u32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }
  varint(): number {
    let x = 0;
    let mul = 1;
    for (;;) {
      this.need(1);
      const b = this.buf[this.pos++];
      x += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 0x80;
      if (mul > 2 ** 53) throw new Error(`${this.what}: varint too long at byte ${this.pos}`);
    }
    return x;
  }
  string(): string {
    const n = this.varint();
    this.need(n);
    const s = decoder.decode(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
  /** Throws unless every byte was consumed. */
  done(): void {
    if (this.pos !== this.end) throw new Error(`${this.what}: ${this.end - this.pos} unexpected trailing bytes`);
  }
}

export function fnv1a(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) {
    h ^= b[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
