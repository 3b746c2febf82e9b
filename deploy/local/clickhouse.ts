/**
 * ClickHouse server from Debian bookworm's packages, unpacked with `dpkg -x` into the cache (no
 * system-wide install, no service auto-start). Its shared-library dependencies that this machine lacks
 * are downloaded and unpacked beside it and found through LD_LIBRARY_PATH. Runs with the project's own
 * config: every path in the cache, 127.0.0.1 only, UTC, HTTP port from CLICKHOUSE_URL.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { GripConfig } from '../../services/runtime/config.ts';
import type { Component } from './component.ts';
import { httpProbe } from './health.ts';
import {
  type InstallContext,
  installAtomically,
  isInstalled,
  runCapture,
  runLogged,
  StackError,
  verifyChecksum,
} from './install.ts';
import { internalPorts, LOCAL_HOST, urlHostPort } from './ports.ts';
import { VERSIONS } from './versions.ts';

const entry = VERSIONS.clickhouse;
const SERVER_BIN = 'usr/sbin/clickhouse-server';
const LIB_DIRS = ['usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu'];

/** Packages apt would have to install for clickhouse-server here (what this machine lacks). */
async function missingPackages(ctx: InstallContext): Promise<string[]> {
  const target = `clickhouse-server=${entry.version}`;
  const simulate = () => runCapture(ctx, 'apt-get', ['install', '-s', '--no-install-recommends', target]);
  let out: string;
  try {
    out = await simulate();
  } catch {
    // No package lists yet (fresh machine): fetch them once and retry.
    ctx.progress('clickhouse: apt package lists missing, running apt-get update');
    await runLogged(ctx, 'apt-get', ['update']);
    out = await simulate();
  }
  return out
    .split('\n')
    .filter((line) => line.startsWith('Inst '))
    .map((line) => line.split(' ')[1] as string);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function serverConfig(config: GripConfig, data: string): string {
  const { port } = urlHostPort(config.clickhouse.url);
  const dir = (name: string) => escapeXml(path.join(data, name) + '/');
  return `<?xml version="1.0"?>
<!-- Written by deploy/local/clickhouse.ts at every start; edit that file, not this one. -->
<yandex>
  <logger>
    <level>information</level>
    <log>${dir('log')}server.log</log>
    <errorlog>${dir('log')}server.err.log</errorlog>
    <size>100M</size>
    <count>3</count>
  </logger>
  <listen_host>${LOCAL_HOST}</listen_host>
  <http_port>${port}</http_port>
  <tcp_port>${internalPorts(config).clickhouseTcp}</tcp_port>
  <interserver_http_port>${internalPorts(config).clickhouseInterserver}</interserver_http_port>
  <interserver_http_host>${LOCAL_HOST}</interserver_http_host>
  <path>${dir('data')}</path>
  <tmp_path>${dir('tmp')}</tmp_path>
  <user_files_path>${dir('user_files')}</user_files_path>
  <format_schema_path>${dir('format_schemas')}</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mlock_executable>false</mlock_executable>
</yandex>
`;
}

function usersConfig(config: GripConfig): string {
  const user = escapeXml(config.clickhouse.username);
  return `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <${user}>
      <password>${escapeXml(config.clickhouse.password)}</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </${user}>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;
}

function authHeaders(config: GripConfig): Record<string, string> {
  return { 'X-ClickHouse-User': config.clickhouse.username, 'X-ClickHouse-Key': config.clickhouse.password };
}

export const clickhouse: Component = {
  name: 'clickhouse',
  startTimeoutMs: 60_000,

  clientUrl: (config) => config.clickhouse.url,

  isInstalled: (paths) => isInstalled(paths.install('clickhouse'), entry),

  async install(_config, paths, ctx) {
    const debDir = path.join(paths.downloads('clickhouse'), 'debs');
    fs.rmSync(debDir, { recursive: true, force: true });
    fs.mkdirSync(debDir, { recursive: true });
    const pinned = entry.debs.map((d) => `${d.pkg}=${entry.version}`);
    const deps = (await missingPackages(ctx)).filter((p) => !entry.debs.some((d) => d.pkg === p));
    ctx.progress(`clickhouse: apt-get download ${entry.debs.length + deps.length} packages`);
    await runLogged(ctx, 'apt-get', ['download', ...pinned, ...deps], { cwd: debDir });
    for (const deb of entry.debs) await verifyChecksum(ctx, path.join(debDir, deb.file), deb.sha256);

    await installAtomically(paths.install('clickhouse'), entry, async (staging) => {
      const root = path.join(staging, 'root');
      for (const file of fs.readdirSync(debDir).filter((f) => f.endsWith('.deb'))) {
        await runLogged(ctx, 'dpkg', ['-x', path.join(debDir, file), root]);
      }
      const ldd = await runCapture(ctx, 'env', [
        `LD_LIBRARY_PATH=${LIB_DIRS.map((d) => path.join(root, d)).join(':')}`,
        'ldd', path.join(root, SERVER_BIN),
      ]);
      const missing = ldd.split('\n').filter((l) => l.includes('not found'));
      if (missing.length > 0) {
        throw new StackError('clickhouse', `shared libraries still missing: ${missing.map((l) => l.trim()).join(', ')}`, `ldd ${SERVER_BIN}`, ctx.log);
      }
    });
    fs.rmSync(debDir, { recursive: true, force: true });
  },

  async prepare(config, paths) {
    const data = paths.data('clickhouse');
    for (const d of ['data', 'tmp', 'user_files', 'format_schemas', 'log', 'etc']) {
      fs.mkdirSync(path.join(data, d), { recursive: true });
    }
    const configFile = path.join(data, 'etc', 'config.xml');
    fs.writeFileSync(configFile, serverConfig(config, data));
    fs.writeFileSync(path.join(data, 'etc', 'users.xml'), usersConfig(config));
    const root = path.join(paths.install('clickhouse'), 'root');
    return {
      command: path.join(root, SERVER_BIN),
      args: [`--config-file=${configFile}`],
      cwd: data,
      env: { LD_LIBRARY_PATH: LIB_DIRS.map((d) => path.join(root, d)).join(':'), TZ: 'UTC' },
    };
  },

  health: (config) =>
    httpProbe(`${config.clickhouse.url}/?query=SELECT%201`, (status, body) => status === 200 && body.trim() === '1', {
      headers: authHeaders(config),
    }),
};
