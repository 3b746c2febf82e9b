/**
 * Layout of the local stack's cache folder (loadConfig().cacheDir, git-ignored):
 *   downloads/<component>/  verified downloads (maven repo, wheels, debs, npm tarball, llama.cpp build tree)
 *   install/<component>/    finished installs, each with a .complete.json marker (see install.ts)
 *   data/<component>/       state that survives restarts (Kafka log dirs, ClickHouse tables, registry DB);
 *                           removed only by `stack:down -- --purge`
 *   run/<component>.pid     the supervisor's records of running processes
 *   logs/<component>.log    stdout+stderr of each process (and of its install steps)
 */
import path from 'node:path';
import type { GripConfig } from '../../services/runtime/config.ts';

export const COMPONENTS = ['kafka', 'registry', 'clickhouse', 'llm', 'embeddings'] as const;
export type ComponentName = (typeof COMPONENTS)[number];

export interface StackPaths {
  root: string;
  downloads: (component: ComponentName) => string;
  install: (component: ComponentName) => string;
  data: (component: ComponentName) => string;
  runDir: string;
  logsDir: string;
  pidFile: (component: ComponentName) => string;
  logFile: (component: ComponentName) => string;
  installLogFile: (component: ComponentName) => string;
}

export function stackPaths(config: GripConfig): StackPaths {
  const root = config.cacheDir;
  const runDir = path.join(root, 'run');
  const logsDir = path.join(root, 'logs');
  return {
    root,
    downloads: (c) => path.join(root, 'downloads', c),
    install: (c) => path.join(root, 'install', c),
    data: (c) => path.join(root, 'data', c),
    runDir,
    logsDir,
    pidFile: (c) => path.join(runDir, `${c}.pid`),
    logFile: (c) => path.join(logsDir, `${c}.log`),
    installLogFile: (c) => path.join(logsDir, `${c}.install.log`),
  };
}
