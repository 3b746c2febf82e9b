/**
 * docker-compose.yml cannot run here (no Docker engine), so its structure is checked against the
 * config module: the same components, the same host ports as the config defaults, and the project's
 * services using only variable names the config module reads (and values it accepts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULTS, ENV_VARS, loadConfig, REPO_ROOT } from '../../services/runtime/config.ts';

interface ComposeService {
  image?: string;
  ports?: string[];
  environment?: Record<string, string>;
  profiles?: string[];
  volumes?: string[];
  deploy?: { resources?: { reservations?: { devices?: { capabilities?: string[] }[] } } };
}
interface Compose {
  services: Record<string, ComposeService>;
}

// merge: docker compose resolves `<<: *anchor` merge keys, so the test must too.
const compose = parse(fs.readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
const services = compose.services;

/** "127.0.0.1:9092:9092" or "9092:9092" -> { host: 9092, container: 9092 } */
function portMappings(service: ComposeService): { host: number; container: number }[] {
  return (service.ports ?? []).map((mapping) => {
    const parts = mapping.split(':');
    if (parts.length < 2) throw new Error(`unexpected port mapping ${mapping}`);
    return { host: Number(parts[parts.length - 2]), container: Number(parts[parts.length - 1]) };
  });
}

/** Explicit port, or the scheme's default (URL drops :80 / :443). */
const portOfUrl = (url: string) => {
  const parsed = new URL(url);
  return Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
};
const projectServices = Object.entries(services).filter(([name]) => name.startsWith('grip-'));

describe('docker-compose.yml', () => {
  it('declares the stack components, Prometheus, Grafana and the project services, each with an image', () => {
    for (const name of ['kafka', 'registry', 'clickhouse', 'llm', 'embeddings', 'prometheus', 'grafana', 'grip-services']) {
      expect(services[name], `service ${name}`).toBeDefined();
      expect(services[name]?.image, `image of ${name}`).toMatch(/^[\w./-]+:[\w.-]+$/);
    }
    expect(services.kafka?.image).toMatch(/^apache\/kafka:4\.1\./);
    expect(services.registry?.image).toMatch(/apicurio-registry:3\./);
    expect(services.clickhouse?.image).toMatch(/clickhouse-server:2[45]\./);
    expect(services.llm?.image).toMatch(/^vllm\/vllm-openai:/);
  });

  it('reserves GPUs for the model servers', () => {
    for (const name of ['llm', 'llm-large', 'embeddings']) {
      const devices = services[name]?.deploy?.resources?.reservations?.devices ?? [];
      expect(devices.flatMap((d) => d.capabilities ?? []), `${name} GPU reservation`).toContain('gpu');
    }
  });

  it('publishes the same host ports as the config defaults, on 127.0.0.1', () => {
    const expected: Record<string, number> = {
      kafka: Number(DEFAULTS.kafkaBootstrap.split(':')[1]),
      registry: portOfUrl(DEFAULTS.registryUrl),
      clickhouse: portOfUrl(DEFAULTS.clickhouseUrl),
      llm: portOfUrl(DEFAULTS.llmBaseUrl),
      embeddings: portOfUrl(DEFAULTS.embeddingsBaseUrl),
    };
    for (const [name, port] of Object.entries(expected)) {
      expect(portMappings(services[name] as ComposeService).map((m) => m.host), `host ports of ${name}`).toContain(port);
    }
    for (const [name, service] of Object.entries(services)) {
      for (const mapping of service.ports ?? []) expect(mapping, `${name} binds loopback only`).toMatch(/^127\.0\.0\.1:/);
    }
  });

  it('gives the project services only variable names that the config module reads, with values it accepts', () => {
    expect(projectServices.length).toBeGreaterThan(0);
    const known = new Set(ENV_VARS.map((v) => v.name));
    for (const [name, service] of projectServices) {
      const env = service.environment ?? {};
      expect(Object.keys(env).length, `${name} has an environment block`).toBeGreaterThan(0);
      for (const key of Object.keys(env)) expect(known.has(key), `${name}: ${key} is in ENV_VARS`).toBe(true);
      expect(() => loadConfig(env), `${name}: environment passes loadConfig`).not.toThrow();
    }
  });

  it('points the project services at in-network ports that the target services actually listen on', () => {
    for (const [, service] of projectServices) {
      const config = loadConfig(service.environment ?? {});
      const targets: [string, number][] = [
        [config.registry.url, portOfUrl(config.registry.url)],
        [config.clickhouse.url, portOfUrl(config.clickhouse.url)],
        [config.llm.extract.baseUrl, portOfUrl(config.llm.extract.baseUrl)],
        [config.embeddings.baseUrl, portOfUrl(config.embeddings.baseUrl)],
      ];
      for (const [url, port] of targets) {
        const host = new URL(url).hostname;
        const target = services[host];
        expect(target, `service ${host} for ${url}`).toBeDefined();
        expect(portMappings(target as ComposeService).map((m) => m.container), `${host} container ports`).toContain(port);
      }
      const kafkaHost = config.kafka.bootstrapServers[0]?.split(':')[0] as string;
      expect(services[kafkaHost], 'Kafka service of KAFKA_BOOTSTRAP_SERVERS').toBeDefined();
      expect(services[kafkaHost]?.environment?.KAFKA_ADVERTISED_LISTENERS).toContain(config.kafka.bootstrapServers[0]);
    }
  });

  it('mounts a Prometheus config that parses and scrapes the model servers and the project services', () => {
    const mount = services.prometheus?.volumes?.find((v) => v.includes('prometheus.yml'));
    expect(mount).toBeDefined();
    const file = path.join(REPO_ROOT, (mount as string).split(':')[0] as string);
    const prom = parse(fs.readFileSync(file, 'utf8')) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const jobs = prom.scrape_configs.map((j) => j.job_name);
    expect(jobs).toEqual(expect.arrayContaining(['llm', 'embeddings', 'grip-services']));
    for (const job of prom.scrape_configs) {
      for (const target of job.static_configs.flatMap((s) => s.targets)) {
        const host = target.split(':')[0] as string;
        expect(services[host], `${job.job_name} target ${target} is a compose service`).toBeDefined();
      }
    }
  });
});
