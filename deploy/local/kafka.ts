/**
 * Apache Kafka, single node, KRaft combined mode (broker + controller), from Maven Central jars.
 * Install: deploy/local/kafka/pom.xml + maven-dependency-plugin copy-dependencies (maven verifies each
 * download's checksum; we then verify the whole jar set against VERSIONS.kafka.jarsDigest).
 * Storage is formatted once (data/kafka/logs/meta.properties marks it).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../services/runtime/config.ts';
import type { Component } from './component.ts';
import { kafkaProbe } from './health.ts';
import { installAtomically, isInstalled, runLogged, sha256File, StackError } from './install.ts';
import { findJava } from './java.ts';
import { internalPorts, kafkaHostPort, LOCAL_HOST } from './ports.ts';
import { VERSIONS } from './versions.ts';

const entry = VERSIONS.kafka;

async function jarsDigest(libs: string): Promise<{ count: number; digest: string }> {
  const names = fs.readdirSync(libs).filter((n) => n.endsWith('.jar')).sort();
  const hash = createHash('sha256');
  for (const name of names) hash.update(`${name} ${await sha256File(path.join(libs, name))}\n`);
  return { count: names.length, digest: hash.digest('hex') };
}

function java(): string {
  const bin = findJava(entry.minJavaMajor);
  if (!bin) throw new StackError('kafka', `needs Java ${entry.minJavaMajor}+ (none found in JAVA_HOME or /usr/lib/jvm)`);
  return bin;
}

const LOG4J2_XML = `<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="kafka" level="INFO"/>
    <Logger name="org.apache.kafka" level="INFO"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Root level="WARN"><AppenderRef ref="STDOUT"/></Root>
  </Loggers>
</Configuration>
`;

export const kafka: Component = {
  name: 'kafka',
  startTimeoutMs: 120_000,

  clientUrl: (config) => {
    const { host, port } = kafkaHostPort(config);
    return `${host}:${port}`;
  },

  isInstalled: (paths) => isInstalled(paths.install('kafka'), entry),

  async install(_config, paths, ctx) {
    java();
    const m2 = path.join(paths.downloads('kafka'), 'm2');
    await installAtomically(paths.install('kafka'), entry, async (staging) => {
      ctx.progress('kafka: fetching broker jars from Maven Central');
      await runLogged(ctx, 'mvn', [
        '-B', '-ntp', '-C',
        '-f', path.join(REPO_ROOT, 'deploy', 'local', 'kafka', 'pom.xml'),
        `-Dmaven.repo.local=${m2}`,
        `org.apache.maven.plugins:maven-dependency-plugin:${entry.mavenDependencyPlugin}:copy-dependencies`,
        `-DoutputDirectory=${path.join(staging, 'libs')}`,
        '-DincludeScope=runtime',
      ]);
      const { count, digest } = await jarsDigest(path.join(staging, 'libs'));
      if (count !== entry.jarCount || digest !== entry.jarsDigest) {
        throw new StackError('kafka', `jar set differs from the pinned one (count ${count}/${entry.jarCount}, digest ${digest})`, undefined, ctx.log);
      }
    });
  },

  async prepare(config, paths, ctx) {
    const { port } = kafkaHostPort(config);
    const data = paths.data('kafka');
    const logDir = path.join(data, 'logs');
    fs.mkdirSync(logDir, { recursive: true });
    const props = [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@${LOCAL_HOST}:${internalPorts(config).kafkaController}`,
      `listeners=PLAINTEXT://${LOCAL_HOST}:${port},CONTROLLER://${LOCAL_HOST}:${internalPorts(config).kafkaController}`,
      `advertised.listeners=PLAINTEXT://${LOCAL_HOST}:${port}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      'inter.broker.listener.name=PLAINTEXT',
      `log.dirs=${logDir}`,
      'num.partitions=1',
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=true',
      '',
    ].join('\n');
    const propsFile = path.join(data, 'server.properties');
    fs.writeFileSync(propsFile, props);
    const log4j = path.join(data, 'log4j2.xml');
    fs.writeFileSync(log4j, LOG4J2_XML);
    const classpath = `${path.join(paths.install('kafka'), 'libs')}/*`; // java expands the wildcard itself

    if (!fs.existsSync(path.join(logDir, 'meta.properties'))) {
      ctx.progress('kafka: formatting KRaft storage (first start)');
      const clusterId = randomBytes(16).toString('base64url').slice(0, 22);
      await runLogged(ctx, java(), [
        '-cp', classpath, 'kafka.tools.StorageTool', 'format',
        '-t', clusterId, '-c', propsFile, '--ignore-formatted',
      ]);
    }
    return {
      command: java(),
      args: [
        '-Xms256m', '-Xmx512m',
        `-Dlog4j2.configurationFile=${log4j}`,
        '-cp', classpath, 'kafka.Kafka', propsFile,
      ],
      cwd: data,
    };
  },

  health: (config) => {
    const { host, port } = kafkaHostPort(config);
    return kafkaProbe(host, port);
  },
};
