/**
 * Install helpers shared by the components: commands run with their output in the component's install
 * log, checksummed downloads, and the "complete" marker that tells a finished install from a partial
 * one. An install is built in a staging folder, verified, marked, and only then renamed into place, so
 * an interrupted install never looks finished and is simply redone.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { canonicalJson, sha256Hex } from '../../core/util/hash.ts';
import type { ComponentName } from './paths.ts';

export class StackError extends Error {
  constructor(
    readonly component: ComponentName,
    message: string,
    readonly command?: string,
    readonly log?: string,
  ) {
    super(message);
    this.name = 'StackError';
  }
}

export interface InstallContext {
  component: ComponentName;
  /** Install log of this component. */
  log: string;
  progress: (message: string) => void;
}

/** Runs a command, appending its output to the install log; throws a StackError naming it on failure. */
export function runLogged(
  ctx: InstallContext,
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string | undefined> } = {},
): Promise<void> {
  const shown = [command, ...args].join(' ');
  fs.mkdirSync(path.dirname(ctx.log), { recursive: true });
  const fd = fs.openSync(ctx.log, 'a');
  fs.writeSync(fd, `\n$ ${shown}\n`);
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', fd, fd],
    });
    const fail = (why: string) =>
      reject(new StackError(ctx.component, `install step failed (${why})`, shown, ctx.log));
    child.on('error', (err) => {
      fs.closeSync(fd);
      fail(err.message);
    });
    child.on('exit', (code, signal) => {
      fs.closeSync(fd);
      if (code === 0) resolve();
      else fail(signal ? `killed by ${signal}` : `exit code ${code}`);
    });
  });
}

/** Runs a command and returns its stdout (for small queries such as apt-get -s); stderr goes to the log. */
export function runCapture(ctx: InstallContext, command: string, args: string[]): Promise<string> {
  const shown = [command, ...args].join(' ');
  return new Promise<string>((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new StackError(ctx.component, e.message, shown, ctx.log)));
    child.on('exit', (code) => {
      fs.appendFileSync(ctx.log, `\n$ ${shown}\n${err}`);
      if (code === 0) resolve(out);
      else reject(new StackError(ctx.component, `exit code ${code}: ${err.trim().slice(-500)}`, shown, ctx.log));
    });
  });
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    fs.createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** True when the file exists and has the expected sha256 (and size, when given). */
export async function hasChecksum(file: string, sha256: string, size?: number): Promise<boolean> {
  try {
    const stat = fs.statSync(file);
    if (size !== undefined && stat.size !== size) return false;
  } catch {
    return false;
  }
  return (await sha256File(file)) === sha256;
}

/** Throws a StackError unless `file` has the expected sha256; a bad file is deleted so a retry refetches it. */
export async function verifyChecksum(ctx: InstallContext, file: string, sha256: string): Promise<void> {
  const actual = fs.existsSync(file) ? await sha256File(file) : '(missing)';
  if (actual !== sha256) {
    fs.rmSync(file, { force: true });
    throw new StackError(ctx.component, `checksum mismatch for ${file}: expected sha256 ${sha256}, got ${actual}`, undefined, ctx.log);
  }
}

const MARKER = '.complete.json';

/** The fingerprint recorded in the complete marker: changes whenever the pinned entry changes. */
export function fingerprint(entry: unknown): string {
  return sha256Hex(canonicalJson(entry));
}

export function isInstalled(installDir: string, entry: unknown): boolean {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(installDir, MARKER), 'utf8')) as { fingerprint?: string };
    return marker.fingerprint === fingerprint(entry);
  } catch {
    return false;
  }
}

/**
 * Builds an install in `<installDir>.staging`, then marks it complete and renames it into place.
 * Leftovers of an interrupted earlier attempt are removed first.
 */
export async function installAtomically(
  installDir: string,
  entry: unknown,
  build: (staging: string) => Promise<void>,
): Promise<void> {
  const staging = `${installDir}.staging`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  await build(staging);
  fs.writeFileSync(
    path.join(staging, MARKER),
    JSON.stringify({ fingerprint: fingerprint(entry), entry, installedAt: new Date().toISOString() }, null, 2),
  );
  fs.rmSync(installDir, { recursive: true, force: true });
  fs.renameSync(staging, installDir);
}

/** Moves a verified temp file into its final name (same folder, so the rename is atomic). */
export function promote(tempFile: string, finalFile: string): void {
  fs.renameSync(tempFile, finalFile);
}
