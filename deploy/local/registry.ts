/**
 * Apicurio Registry 3.x (Maven Central tarball) serving the Confluent-compatible API under
 * /apis/ccompat/v7, global compatibility BACKWARD. Storage: Apicurio's H2 SQL storage in a file under
 * data/registry, so schemas survive a restart (services re-register theirs at start anyway).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { GripConfig } from '../../services/runtime/config.ts';
import type { Component } from './component.ts';
import { httpProbe } from './health.ts';
import { hasChecksum, installAtomically, isInstalled, runLogged, StackError, verifyChecksum } from './install.ts';
import { findJava } from './java.ts';
import { internalPorts, LOCAL_HOST, urlHostPort } from './ports.ts';
import { VERSIONS } from './versions.ts';

const entry = VERSIONS.registry;
const CCOMPAT_PATH = '/apis/ccompat/v7';

function java(): string {
  const bin = findJava(entry.minJavaMajor);
  if (!bin) {
    throw new StackError('registry', `Apicurio Registry ${entry.version} needs Java ${entry.minJavaMajor}+ (none found in JAVA_HOME or /usr/lib/jvm)`);
  }
  return bin;
}

const contentType = { 'Content-Type': 'application/vnd.schemaregistry.v1+json' };

async function globalCompatibility(config: GripConfig): Promise<string | undefined> {
  try {
    const res = await fetch(`${config.registry.url}/config`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return undefined;
    return ((await res.json()) as { compatibilityLevel?: string }).compatibilityLevel;
  } catch {
    return undefined;
  }
}

export const registry: Component = {
  name: 'registry',
  startTimeoutMs: 180_000,

  clientUrl: (config) => config.registry.url,

  isInstalled: (paths) => isInstalled(paths.install('registry'), entry),

  async install(_config, paths, ctx) {
    java();
    const downloads = paths.downloads('registry');
    const tarball = path.join(downloads, entry.file);
    if (!(await hasChecksum(tarball, entry.sha256, entry.size))) {
      fs.rmSync(tarball, { force: true });
      fs.mkdirSync(downloads, { recursive: true });
      ctx.progress(`registry: fetching ${entry.artifact} from Maven Central`);
      await runLogged(ctx, 'mvn', [
        '-B', '-ntp', '-C',
        `-Dmaven.repo.local=${path.join(downloads, 'm2')}`,
        `org.apache.maven.plugins:maven-dependency-plugin:${entry.mavenDependencyPlugin}:copy`,
        `-Dartifact=${entry.artifact}`,
        `-DoutputDirectory=${downloads}`,
      ], { cwd: downloads });
      await verifyChecksum(ctx, tarball, entry.sha256);
    }
    await installAtomically(paths.install('registry'), entry, async (staging) => {
      await runLogged(ctx, 'tar', ['xzf', tarball, '-C', staging]);
      if (!fs.existsSync(path.join(staging, 'quarkus-run.jar'))) {
        throw new StackError('registry', `quarkus-run.jar missing after unpacking ${tarball}`, undefined, ctx.log);
      }
    });
  },

  async prepare(config, paths) {
    const { port } = urlHostPort(config.registry.url);
    if (!new URL(config.registry.url).pathname.endsWith(CCOMPAT_PATH)) {
      throw new StackError('registry', `SCHEMA_REGISTRY_URL must end with ${CCOMPAT_PATH} for the local Apicurio registry, got ${config.registry.url}`);
    }
    const data = paths.data('registry');
    fs.mkdirSync(data, { recursive: true });
    return {
      command: java(),
      args: [
        // Quarkus + H2 + ~250 classes of storage: a capped heap keeps it near 300-400 MB RSS.
        '-Xms64m', '-Xmx384m', '-XX:MaxMetaspaceSize=256m', '-XX:+UseSerialGC',
        `-Dquarkus.http.host=${LOCAL_HOST}`,
        `-Dquarkus.http.port=${port}`,
        `-Dquarkus.management.host=${LOCAL_HOST}`,
        `-Dquarkus.management.port=${internalPorts(config).registryManagement}`,
        '-Dapicurio.rules.global.compatibility=BACKWARD',
        `-Dapicurio.datasource.url=jdbc:h2:file:${path.join(data, 'registry')};DB_CLOSE_ON_EXIT=FALSE`,
        '-Dapicurio.datasource.jdbc.initial-size=2',
        '-Dapicurio.datasource.jdbc.min-size=2',
        '-Dapicurio.datasource.jdbc.max-size=20',
        `-Dapicurio.storage.snapshot.location=${data}`,
        '-jar', path.join(paths.install('registry'), 'quarkus-run.jar'),
      ],
      cwd: data,
    };
  },

  health: (config) => httpProbe(`${config.registry.url}/config`, (status) => status === 200),

  /** Makes sure the global compatibility is BACKWARD (and verifies it through the API). */
  async afterStart(config) {
    if ((await globalCompatibility(config)) !== 'BACKWARD') {
      await fetch(`${config.registry.url}/config`, {
        method: 'PUT',
        headers: contentType,
        body: JSON.stringify({ compatibility: 'BACKWARD' }),
        signal: AbortSignal.timeout(5_000),
      });
    }
    const level = await globalCompatibility(config);
    if (level !== 'BACKWARD') {
      throw new StackError('registry', `global compatibility is ${level ?? 'unknown'}, expected BACKWARD`);
    }
  },
};
