/**
 * Headless Chromium for the browser tests: Debian's `chromium` package at /usr/bin/chromium, driven
 * by playwright-core (which downloads no browser of its own). ensureChromium() installs the package
 * with apt-get when it is missing and we are root (the development machines and CI are); otherwise
 * it fails with a message saying what to install.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** The launch flags the issue names: no sandbox (root in a container), no GPU, no background traffic. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

export function ensureChromium(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): string {
  if (fs.existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root) {
    throw new Error(`${CHROMIUM_PATH} is missing and this process is not root: install Debian's chromium package (apt-get install -y --no-install-recommends chromium) and run the tests again`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args: string[]) => execFileSync('apt-get', args, { env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  log('[chromium] not installed: apt-get install -y --no-install-recommends chromium (a minute or two)');
  try {
    try {
      run(['install', '-y', '--no-install-recommends', 'chromium']);
    } catch {
      // Fresh machines have no package lists yet.
      run(['update']);
      run(['install', '-y', '--no-install-recommends', 'chromium']);
    }
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim().split('\n').slice(-5).join('\n') ?? '';
    throw new Error(`installing chromium with apt-get failed: ${(error as Error).message.split('\n')[0]}\n${stderr}`);
  }
  if (!fs.existsSync(CHROMIUM_PATH)) throw new Error(`apt-get installed chromium but ${CHROMIUM_PATH} is still missing`);
  log(`[chromium] installed at ${CHROMIUM_PATH}`);
  return CHROMIUM_PATH;
}
