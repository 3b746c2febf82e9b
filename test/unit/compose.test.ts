/**
 * docker-compose.yml cannot run here (no Docker engine), so its structure is checked against the
 * config module: the same components, the same host ports as the config defaults, and the project's
 * services using only variable names the config module reads (and values it accepts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DASHBOARD_FILE, dashboardJson, GRAFANA_PARAMS } from '../../deploy/grafana/build-dashboard.ts';
import { readQueries, renderQuery, tablesOf, type QueryName } from '../../services/analytics/queries.ts';
import { DEFAULTS, loadConfig, REPO_ROOT } from '../../services/runtime/config.ts';
import { envVarDocs, SERVICE_NAMES, SERVICES } from '../../services/stages.ts';

const DEFAULT_SERVICE_PORTS: Record<string, number> = Object.fromEntries(SERVICES.map((s) => [s.name, s.port]));
const ENV_VARS = envVarDocs();

interface ComposeService {
  image?: string;
  command?: string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  restart?: string;
  healthcheck?: { test?: string[] };
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
    for (const name of ['kafka', 'registry', 'clickhouse', 'llm', 'embeddings', 'prometheus', 'grafana', ...SERVICE_NAMES.map((n) => `grip-${n}`)]) {
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
        [config.llm.default.baseUrl, portOfUrl(config.llm.default.baseUrl)],
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

  it('runs one container per project service, all from one image, in the pipeline profile', () => {
    const images = new Set(projectServices.map(([, service]) => service.image));
    expect(images.size, 'one image for every project service').toBe(1);
    expect(projectServices.map(([name]) => name).sort()).toEqual(SERVICE_NAMES.map((n) => `grip-${n}`).sort());
    for (const [name, service] of projectServices) {
      expect(service.profiles, `${name} profiles`).toEqual(['pipeline']);
      expect(service.command?.join(' '), `${name} command`).toBe(`node bin/grip.mjs services run ${name.slice('grip-'.length)}`);
      // The ops server must listen beyond loopback inside a container, or Prometheus cannot scrape it.
      expect(loadConfig(service.environment ?? {}).services.host, `${name} GRIP_SERVICES_HOST`).toBe('0.0.0.0');
    }
    expect(portMappings(services['grip-dashboard'] as ComposeService)).toContainEqual({ host: DEFAULT_SERVICE_PORTS.dashboard, container: DEFAULT_SERVICE_PORTS.dashboard });
  });

  it('restarts every service after a crash, and checks the health of every project service on its own /healthz', () => {
    for (const [name, service] of Object.entries(services)) expect(service.restart, `${name} restart policy`).toBe('unless-stopped');
    for (const [name, service] of projectServices) {
      const port = DEFAULT_SERVICE_PORTS[name.slice('grip-'.length) as keyof typeof DEFAULT_SERVICE_PORTS];
      expect(service.healthcheck?.test?.join(' '), `${name} healthcheck`).toContain(`http://127.0.0.1:${port}/healthz`);
      // started only once the broker and ClickHouse answer their own health checks
      const deps = service.depends_on as Record<string, { condition: string }>;
      for (const dep of ['kafka', 'clickhouse']) {
        expect(deps[dep]?.condition, `${name} waits for ${dep}`).toBe('service_healthy');
        expect(services[dep]?.healthcheck?.test, `${dep} has a healthcheck`).toBeDefined();
      }
    }
    for (const model of ['llm', 'llm-large']) expect(services[model]?.healthcheck?.test?.join(' '), `${model} healthcheck`).toContain('/health');
  });

  it('mounts a Prometheus config that parses and scrapes the model servers and every project service on its port', () => {
    const mount = services.prometheus?.volumes?.find((v) => v.includes('prometheus.yml'));
    expect(mount).toBeDefined();
    const file = path.join(REPO_ROOT, (mount as string).split(':')[0] as string);
    const prom = parse(fs.readFileSync(file, 'utf8')) as {
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[]; labels?: Record<string, string> }[] }[];
    };
    const jobs = prom.scrape_configs.map((j) => j.job_name);
    expect(jobs).toEqual(expect.arrayContaining(['llm', 'embeddings', 'grip-services']));
    for (const job of prom.scrape_configs) {
      for (const target of job.static_configs.flatMap((s) => s.targets)) {
        const host = target.split(':')[0] as string;
        expect(services[host], `${job.job_name} target ${target} is a compose service`).toBeDefined();
      }
    }
    const grip = prom.scrape_configs.find((j) => j.job_name === 'grip-services')!;
    expect(grip.metrics_path ?? '/metrics').toBe('/metrics');
    const targets = grip.static_configs.flatMap((s) => s.targets.map((t) => ({ target: t, service: s.labels?.service })));
    for (const [name, port] of Object.entries(DEFAULT_SERVICE_PORTS)) {
      expect(targets, `${name} scraped on its port`).toContainEqual({ target: `grip-${name}:${port}`, service: name });
    }
  });
});

describe('deploy/grafana provisioning', () => {
  const grafana = services.grafana as ComposeService;
  const mounted = (suffix: string) => {
    const mount = grafana.volumes?.find((v) => v.split(':')[1] === suffix);
    expect(mount, `grafana mounts ${suffix}`).toBeDefined();
    return path.join(REPO_ROOT, (mount as string).split(':')[0] as string);
  };

  it('is mounted into Grafana, with the ClickHouse plugin installed', () => {
    expect(grafana.environment?.GF_INSTALL_PLUGINS).toContain('grafana-clickhouse-datasource');
    expect(fs.existsSync(path.join(mounted('/etc/grafana/provisioning'), 'datasources'))).toBe(true);
    expect(fs.existsSync(mounted('/var/lib/grafana/dashboards'))).toBe(true);
  });

  it('declares a Prometheus and a ClickHouse data source that point at compose services', () => {
    const dir = path.join(mounted('/etc/grafana/provisioning'), 'datasources');
    const sources = fs
      .readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .flatMap((f) => (parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { datasources: Array<Record<string, any>> }).datasources);
    const prom = sources.find((d) => d.type === 'prometheus');
    const ch = sources.find((d) => d.type === 'grafana-clickhouse-datasource');
    expect(prom?.url).toBe('http://prometheus:9090');
    expect(ch?.uid).toBe('grip-clickhouse');
    expect(services[ch?.jsonData.host], 'ClickHouse host is a compose service').toBeDefined();
    expect(portMappings(services[ch?.jsonData.host] as ComposeService).map((m) => m.container)).toContain(ch?.jsonData.port);
    expect(ch?.jsonData.protocol).toBe('http');
    expect(ch?.jsonData.defaultDatabase).toBe(projectServices[0]![1].environment?.CLICKHOUSE_DATABASE);
    const providers = parse(fs.readFileSync(path.join(mounted('/etc/grafana/provisioning'), 'dashboards', 'dashboards.yml'), 'utf8')) as { providers: Array<{ options: { path: string } }> };
    expect(providers.providers[0]!.options.path).toBe('/var/lib/grafana/dashboards');
  });

  it('ships the dashboard generated from the analytics SQL (rerun deploy/grafana/build-dashboard.ts if this fails)', () => {
    expect(fs.readFileSync(DASHBOARD_FILE, 'utf8')).toBe(dashboardJson());
    expect(path.dirname(DASHBOARD_FILE)).toBe(mounted('/var/lib/grafana/dashboards'));
  });

  it('gives every panel SQL that names only tables the migrations create, read with FINAL, in the compose database', () => {
    const migrations = fs.readdirSync(path.join(REPO_ROOT, 'deploy', 'clickhouse')).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f));
    const created = new Set(migrations.flatMap((f) => [...fs.readFileSync(path.join(REPO_ROOT, 'deploy', 'clickhouse', f), 'utf8').matchAll(/CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)/g)].map((m) => m[1])));
    const dashboard = JSON.parse(fs.readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Array<{ title: string; datasource: { uid: string }; targets: Array<{ rawSql: string; datasource: { uid: string } }> }> };
    expect(dashboard.panels.length).toBe(8);
    for (const panel of dashboard.panels) {
      expect(panel.datasource.uid, panel.title).toBe('grip-clickhouse');
      for (const target of panel.targets) {
        const tables = [...target.rawSql.matchAll(/\b(\w+)\.(\w+)(\s+FINAL)?/g)].filter((m) => m[1] === GRAFANA_PARAMS.db);
        expect(tables.length, `${panel.title} reads a table`).toBeGreaterThan(0);
        for (const [, , table, final] of tables) {
          expect(created.has(table!), `${panel.title}: table ${table} exists in the migrations`).toBe(true);
          expect(final, `${panel.title}: ${table} read with FINAL`).toBeDefined();
        }
        expect(target.rawSql, `${panel.title}: no placeholder left`).not.toMatch(/\{[a-z_]+\}/);
      }
    }
  });

  it('uses the analytics queries verbatim (same SQL as grip report --from clickhouse)', () => {
    const queries = readQueries();
    const dashboard = JSON.parse(fs.readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Array<{ targets: Array<{ rawSql: string }> }> };
    const rendered = new Set((Object.keys(queries) as QueryName[]).filter((q) => !q.startsWith('backfill')).map((q) => (tablesOf(queries[q]).length ? renderQuery(q, queries[q], GRAFANA_PARAMS) : '')));
    for (const panel of dashboard.panels) for (const t of panel.targets) expect(rendered.has(t.rawSql)).toBe(true);
  });
});
