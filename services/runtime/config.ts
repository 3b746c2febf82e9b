/**
 * The one configuration module: every connection setting of every component is read here, from
 * environment variables, validated once at start. Defaults point at the local stack
 * (`npm run stack:up`); the same variables point a real deployment at external Kafka, registry,
 * ClickHouse and GPU model servers. Nothing else in the project reads process.env for these.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file lives in services/runtime/). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** GRIP_<NAME>_PORT: the variable that moves a service's HTTP port (the services are declared in services/stages.ts). */
export const servicePortVar = (name: string) => `GRIP_${name.toUpperCase().replace(/-/g, '_')}_PORT`;

export interface LlmEndpoint {
  baseUrl: string;
  model: string;
  apiKey: string;
}

export interface GripConfig {
  /** Git-ignored folder holding the local stack's installs, data and logs. */
  cacheDir: string;
  kafka: { bootstrapServers: string[]; clientId: string };
  registry: { url: string };
  clickhouse: { url: string; username: string; password: string; database: string };
  llm: {
    /** Every LLM step's endpoint unless overridden (GRIP_LLM_BASE_URL, _MODEL, _API_KEY). */
    default: LlmEndpoint;
    /**
     * Per-step overrides from GRIP_LLM_<STEP>_BASE_URL / _MODEL / _API_KEY, by lower-case step name.
     * Which steps exist is declared by the stages (services/stages.ts), which reject unknown ones.
     */
    steps: Record<string, Partial<LlmEndpoint>>;
  };
  embeddings: LlmEndpoint;
  services: {
    /** Interface the services' HTTP servers bind. */
    host: string;
    /** Ports set by GRIP_<SERVICE>_PORT, by service name; the declarations hold the defaults. */
    portOverrides: Record<string, number>;
    /** Per-service state: LLM answer caches, `grip services` pid files and logs. */
    stateDir: string;
    /** Settings file (the YAML of `grip run --config`) the services read; undefined: built-in defaults. */
    settingsFile: string | undefined;
    /** Bearer token POST /seeds requires; required when `host` is not a loopback address. */
    ingestToken: string | undefined;
    /** Host names (besides IP literals, localhost and this machine's name) the web servers answer to: DNS-rebinding guard. */
    allowedHosts: string[];
  };
}

export interface EnvVarDoc {
  name: string;
  default: string;
  description: string;
}

/** Defaults: the local stack's addresses. Ports of the local stack are derived from these URLs. */
export const DEFAULTS = {
  cacheDir: path.join(REPO_ROOT, '.cache'),
  kafkaBootstrap: '127.0.0.1:9092',
  kafkaClientId: 'grip',
  registryUrl: 'http://127.0.0.1:8081/apis/ccompat/v7',
  clickhouseUrl: 'http://127.0.0.1:8123',
  clickhouseUser: 'default',
  clickhousePassword: '',
  clickhouseDatabase: 'grip',
  llmBaseUrl: 'http://127.0.0.1:8090/v1',
  llmModel: 'local-instruct',
  llmApiKey: 'none',
  embeddingsBaseUrl: 'http://127.0.0.1:8091/v1',
  embeddingsModel: 'local-embeddings',
  embeddingsApiKey: 'none',
} as const;

const LLM_FIELDS = { BASE_URL: 'baseUrl', MODEL: 'model', API_KEY: 'apiKey' } as const;
export const llmStepVar = (step: string, field: keyof typeof LLM_FIELDS) => `GRIP_LLM_${step.toUpperCase()}_${field}`;
const LLM_STEP_VAR = /^GRIP_LLM_([A-Z0-9_]+)_(BASE_URL|MODEL|API_KEY)$/;
const SERVICE_PORT_VAR = /^GRIP_([A-Z0-9_]+)_PORT$/;

/** A step's endpoint: its overrides on top of the default. */
export function llmEndpointOf(config: GripConfig, step: string): LlmEndpoint {
  return { ...config.llm.default, ...config.llm.steps[step] };
}

/** A service's port: GRIP_<NAME>_PORT, else the declared default. */
export function servicePortOf(config: GripConfig, name: string, declared: number): number {
  return config.services.portOverrides[name] ?? declared;
}

/**
 * Every fixed variable this module reads, with its default. The per-step GRIP_LLM_<STEP>_* and
 * per-service GRIP_<SERVICE>_PORT variables follow the stage declarations: services/stages.ts
 * lists them all (`envVarDocs`), for the README and the docker-compose test.
 */
export const ENV_VARS: EnvVarDoc[] = [
  { name: 'GRIP_CACHE_DIR', default: '<repo>/.cache', description: 'local stack installs, data and logs' },
  { name: 'KAFKA_BOOTSTRAP_SERVERS', default: DEFAULTS.kafkaBootstrap, description: 'comma-separated host:port list' },
  { name: 'KAFKA_CLIENT_ID', default: DEFAULTS.kafkaClientId, description: 'Kafka client id prefix' },
  { name: 'SCHEMA_REGISTRY_URL', default: DEFAULTS.registryUrl, description: 'Confluent-compatible registry base URL' },
  { name: 'CLICKHOUSE_URL', default: DEFAULTS.clickhouseUrl, description: 'ClickHouse HTTP URL' },
  { name: 'CLICKHOUSE_USER', default: DEFAULTS.clickhouseUser, description: 'ClickHouse user' },
  { name: 'CLICKHOUSE_PASSWORD', default: '(empty)', description: 'ClickHouse password' },
  { name: 'CLICKHOUSE_DATABASE', default: DEFAULTS.clickhouseDatabase, description: 'ClickHouse database' },
  { name: 'GRIP_LLM_BASE_URL', default: DEFAULTS.llmBaseUrl, description: 'OpenAI-compatible base URL for every LLM stage' },
  { name: 'GRIP_LLM_MODEL', default: DEFAULTS.llmModel, description: 'model name for every LLM stage' },
  { name: 'GRIP_LLM_API_KEY', default: DEFAULTS.llmApiKey, description: 'API key for every LLM stage' },
  { name: 'GRIP_EMBEDDINGS_BASE_URL', default: DEFAULTS.embeddingsBaseUrl, description: 'OpenAI-compatible embeddings base URL' },
  { name: 'GRIP_EMBEDDINGS_MODEL', default: DEFAULTS.embeddingsModel, description: 'embedding model name' },
  { name: 'GRIP_EMBEDDINGS_API_KEY', default: DEFAULTS.embeddingsApiKey, description: 'embeddings API key' },
  { name: 'GRIP_SERVICES_HOST', default: '127.0.0.1', description: "interface the services' HTTP servers bind" },
  { name: 'GRIP_STATE_DIR', default: '<GRIP_CACHE_DIR>/state', description: "services' LLM answer caches, pid files and logs" },
  { name: 'GRIP_CONFIG', default: '(none)', description: 'settings file (YAML, as `grip run --config`) the services read' },
  { name: 'GRIP_INGEST_TOKEN', default: '(none)', description: 'bearer token POST /seeds requires (`Authorization: Bearer ...`); seed-ingest refuses to start without one when GRIP_SERVICES_HOST is not a loopback address' },
  { name: 'GRIP_ALLOWED_HOSTS', default: '(none)', description: 'comma-separated host names seed-ingest and the dashboard answer to, besides IP addresses, localhost and this machine\'s name' },
];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function read(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value.trim() === '' ? fallback : value.trim();
}

function httpUrl(env: Env, name: string, fallback: string): string {
  const value = read(env, name, fallback);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(`${name}: expected an http(s) URL, got ${JSON.stringify(value)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`${name}: expected an http(s) URL, got ${JSON.stringify(value)}`);
  }
  return value.replace(/\/+$/, '');
}

function hostPorts(env: Env, name: string, fallback: string): string[] {
  const list = read(env, name, fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of list) {
    const match = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(entry);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) {
      throw new ConfigError(`${name}: expected host:port[,host:port...], got ${JSON.stringify(entry)}`);
    }
  }
  if (list.length === 0) throw new ConfigError(`${name}: expected at least one host:port`);
  return list;
}

/** Reads and validates the configuration; throws ConfigError naming the offending variable. */
export function loadConfig(env: Env = process.env): GripConfig {
  const base: LlmEndpoint = {
    baseUrl: httpUrl(env, 'GRIP_LLM_BASE_URL', DEFAULTS.llmBaseUrl),
    model: read(env, 'GRIP_LLM_MODEL', DEFAULTS.llmModel),
    apiKey: read(env, 'GRIP_LLM_API_KEY', DEFAULTS.llmApiKey),
  };
  const steps: Record<string, Partial<LlmEndpoint>> = {};
  const portOverrides: Record<string, number> = {};
  for (const name of Object.keys(env).sort()) {
    if (read(env, name, '') === '') continue;
    const llmVar = LLM_STEP_VAR.exec(name);
    if (llmVar) {
      const field = LLM_FIELDS[llmVar[2] as keyof typeof LLM_FIELDS];
      const value = field === 'baseUrl' ? httpUrl(env, name, '') : read(env, name, '');
      (steps[llmVar[1]!.toLowerCase()] ??= {})[field] = value;
      continue;
    }
    const portVar = SERVICE_PORT_VAR.exec(name);
    if (portVar) portOverrides[portVar[1]!.toLowerCase().replace(/_/g, '-')] = port(env, name, 0);
  }

  const database = read(env, 'CLICKHOUSE_DATABASE', DEFAULTS.clickhouseDatabase);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) {
    throw new ConfigError(`CLICKHOUSE_DATABASE: expected an identifier, got ${JSON.stringify(database)}`);
  }

  const cacheDir = path.resolve(read(env, 'GRIP_CACHE_DIR', DEFAULTS.cacheDir));
  const settingsFile = read(env, 'GRIP_CONFIG', '');
  return {
    cacheDir,
    kafka: {
      bootstrapServers: hostPorts(env, 'KAFKA_BOOTSTRAP_SERVERS', DEFAULTS.kafkaBootstrap),
      clientId: read(env, 'KAFKA_CLIENT_ID', DEFAULTS.kafkaClientId),
    },
    registry: { url: httpUrl(env, 'SCHEMA_REGISTRY_URL', DEFAULTS.registryUrl) },
    clickhouse: {
      url: httpUrl(env, 'CLICKHOUSE_URL', DEFAULTS.clickhouseUrl),
      username: read(env, 'CLICKHOUSE_USER', DEFAULTS.clickhouseUser),
      password: env.CLICKHOUSE_PASSWORD ?? DEFAULTS.clickhousePassword,
      database,
    },
    llm: { default: base, steps },
    embeddings: {
      baseUrl: httpUrl(env, 'GRIP_EMBEDDINGS_BASE_URL', DEFAULTS.embeddingsBaseUrl),
      model: read(env, 'GRIP_EMBEDDINGS_MODEL', DEFAULTS.embeddingsModel),
      apiKey: read(env, 'GRIP_EMBEDDINGS_API_KEY', DEFAULTS.embeddingsApiKey),
    },
    services: {
      host: read(env, 'GRIP_SERVICES_HOST', '127.0.0.1'),
      portOverrides,
      stateDir: path.resolve(read(env, 'GRIP_STATE_DIR', path.join(cacheDir, 'state'))),
      settingsFile: settingsFile === '' ? undefined : path.resolve(settingsFile),
      ingestToken: read(env, 'GRIP_INGEST_TOKEN', '') || undefined,
      allowedHosts: read(env, 'GRIP_ALLOWED_HOSTS', '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean),
    },
  };
}

function port(env: Env, name: string, fallback: number): number {
  const value = read(env, name, String(fallback));
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n < 1 || n > 65535) throw new ConfigError(`${name}: expected a port number 1-65535, got ${JSON.stringify(value)}`);
  return n;
}
