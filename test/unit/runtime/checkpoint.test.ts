/**
 * State checkpoints: written whole or not at all, read back only when whole and of this stage,
 * format and settings, and written on a cadence of records or time (a simulated clock).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Checkpointer, checkpointFile, readCheckpoint, writeCheckpoint, type Positions } from '../../../services/runtime/checkpoint.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'grip-ckpt-'));
const positions: Positions = new Map([['grip.verdicts', new Map([[0, 12n], [3, 40n]])]]);
const content = (n: number) => ({ format: 'f.v1', fingerprint: 'fp-1', positions, sections: { a: new Uint8Array([1, 2, 3, n]), b: new Uint8Array(1000).fill(n) }, facts: { n } });

describe('checkpoint files', () => {
  it('round-trips positions and sections; refuses another format, settings or stage with the reason', async () => {
    const dir = tmp();
    await writeCheckpoint(dir, 'judge', content(7), 1234);
    const read = readCheckpoint(dir, 'judge', { format: 'f.v1', fingerprint: 'fp-1' });
    if (!read.ok) throw new Error(read.reason);
    expect(read.checkpoint.positions).toEqual(positions);
    expect([...read.checkpoint.sections.a!]).toEqual([1, 2, 3, 7]);
    expect(read.checkpoint.sections.b!.every((x) => x === 7)).toBe(true);
    expect(read.checkpoint.writtenAt).toBe(1234);
    expect(readCheckpoint(dir, 'judge', { format: 'f.v2', fingerprint: 'fp-1' })).toMatchObject({ ok: false, reason: expect.stringMatching(/format f.v1/) });
    expect(readCheckpoint(dir, 'judge', { format: 'f.v1', fingerprint: 'fp-2' })).toMatchObject({ ok: false, reason: expect.stringMatching(/other settings/) });
    fs.copyFileSync(checkpointFile(dir, 'judge'), checkpointFile(dir, 'concept-graph'));
    expect(readCheckpoint(dir, 'concept-graph', { format: 'f.v1', fingerprint: 'fp-1' })).toMatchObject({ ok: false, reason: expect.stringMatching(/of judge, not concept-graph/) });
    expect(readCheckpoint(dir, 'nothing', { format: 'f.v1', fingerprint: 'fp-1' })).toEqual({ ok: false, reason: 'no checkpoint' });
  });

  it('every truncation and any flipped byte is detected', async () => {
    const dir = tmp();
    await writeCheckpoint(dir, 's', content(1));
    const file = checkpointFile(dir, 's');
    const whole = fs.readFileSync(file);
    for (const size of [0, 5, 8, 12, 40, whole.length - 33, whole.length - 1]) {
      fs.writeFileSync(file, whole.subarray(0, size));
      expect(readCheckpoint(dir, 's', { format: 'f.v1', fingerprint: 'fp-1' }).ok, `truncated to ${size}`).toBe(false);
    }
    for (const at of [0, 9, 20, Math.floor(whole.length / 2), whole.length - 40, whole.length - 1]) {
      const bad = Buffer.from(whole);
      bad[at]! ^= 0x40;
      fs.writeFileSync(file, bad);
      expect(readCheckpoint(dir, 's', { format: 'f.v1', fingerprint: 'fp-1' }).ok, `byte ${at} flipped`).toBe(false);
    }
  });

  it('a write that fails part-way (a full disk) leaves the previous checkpoint whole and no temporary file', async () => {
    const dir = tmp();
    await writeCheckpoint(dir, 's', content(1));
    // the header and first section are written, then the write fails
    const failing = { ...content(2), sections: { a: new Uint8Array(10), b: { byteLength: 10 } as unknown as Uint8Array } };
    await expect(writeCheckpoint(dir, 's', failing)).rejects.toThrow();
    // the file cannot be renamed into place (a directory stands there)
    const blocked = tmp();
    fs.mkdirSync(checkpointFile(blocked, 's'));
    await expect(writeCheckpoint(blocked, 's', content(3))).rejects.toThrow();
    expect(fs.readdirSync(blocked)).toEqual(['s.checkpoint']);
    const read = readCheckpoint(dir, 's', { format: 'f.v1', fingerprint: 'fp-1' });
    expect(read.ok && [...read.checkpoint.sections.a!]).toEqual([1, 2, 3, 1]);
    expect(fs.readdirSync(dir)).toEqual(['s.checkpoint']);
  });
});

describe('Checkpointer cadence (simulated clock)', () => {
  it('writes every N records, or after the period with at least one record, never with none; a failed write is owed', async () => {
    const dir = tmp();
    let now = 0;
    let taken = 0;
    const logs: string[] = [];
    const c = new Checkpointer({
      dir,
      stage: 's',
      format: 'f.v1',
      fingerprint: 'fp-1',
      take: () => ({ ...content(++taken) }),
      log: (_l, m) => void logs.push(m),
      everyRecords: 100,
      everyMs: 60_000,
      now: () => now,
    });
    // 24 simulated hours at one record a second: one write a minute (the period), never more
    for (let s = 0; s < 24 * 3600; s++) {
      now = s * 1000;
      c.applied();
      await c.flush();
    }
    expect(taken).toBeGreaterThanOrEqual(24 * 60 - 1);
    expect(taken).toBeLessThanOrEqual(24 * 60 + 1);
    // then nothing for an hour: no write (after the records still owed are written)
    await c.write();
    const before = taken;
    now += 3_600_000;
    await c.write();
    expect(taken).toBe(before);
    // a burst: one write per 100 records
    for (let i = 0; i < 1000; i++) {
      c.applied();
      await c.flush();
    }
    expect(taken - before).toBe(10); // the first record (an hour since the last write), then every 100
    // a failing directory: the write fails, is logged, and the records stay owed
    const failing = new Checkpointer({ dir: path.join(dir, 's.checkpoint', 'x'), stage: 's', format: 'f', fingerprint: 'g', take: () => content(0), log: (_l, m) => void logs.push(m), everyRecords: 1 });
    failing.applied();
    await failing.flush();
    expect(logs.at(-1)).toMatch(/not written/);
    expect(failing.tail).toBe(1);
  }, 60_000);
});
