import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, ENV_VARS, llmEndpointOf, loadConfig } from '../../../services/runtime/config.ts';
import { checkConfigNames, envVarDocs, LLM_STEPS } from '../../../services/stages.ts';

describe('loadConfig', () => {
  it('defaults to the local stack', () => {
    const c = loadConfig({});
    expect(c.kafka.bootstrapServers).toEqual([DEFAULTS.kafkaBootstrap]);
    expect(c.registry.url).toMatch(/\/apis\/ccompat\/v7$/);
    expect(llmEndpointOf(c, 'judge_3')).toEqual({ baseUrl: DEFAULTS.llmBaseUrl, model: DEFAULTS.llmModel, apiKey: DEFAULTS.llmApiKey });
    expect(c.embeddings.baseUrl).toMatch(/\/v1$/);
    expect(c.clickhouse.database).toBe('grip');
  });

  it('lets one variable set every stage and a per-stage variable override it', () => {
    const c = loadConfig({
      GRIP_LLM_BASE_URL: 'http://gpu-a:8000/v1/',
      GRIP_LLM_MODEL: 'Qwen2.5-32B-Instruct',
      GRIP_LLM_JUDGE_2_BASE_URL: 'http://gpu-b:8000/v1',
      GRIP_LLM_JUDGE_2_MODEL: 'Qwen2.5-Math-7B-Instruct',
      KAFKA_BOOTSTRAP_SERVERS: 'k1:9092, k2:9092',
    });
    expect(llmEndpointOf(c, 'extract')).toMatchObject({ baseUrl: 'http://gpu-a:8000/v1', model: 'Qwen2.5-32B-Instruct' });
    expect(llmEndpointOf(c, 'judge_2')).toMatchObject({ baseUrl: 'http://gpu-b:8000/v1', model: 'Qwen2.5-Math-7B-Instruct' });
    expect(c.kafka.bootstrapServers).toEqual(['k1:9092', 'k2:9092']);
  });

  it('names the variable that is wrong', () => {
    expect(() => loadConfig({ SCHEMA_REGISTRY_URL: 'localhost:8081' })).toThrow(ConfigError);
    expect(() => loadConfig({ SCHEMA_REGISTRY_URL: 'localhost:8081' })).toThrow(/SCHEMA_REGISTRY_URL/);
    expect(() => loadConfig({ KAFKA_BOOTSTRAP_SERVERS: 'k1' })).toThrow(/KAFKA_BOOTSTRAP_SERVERS.*"k1"/);
    expect(() => loadConfig({ GRIP_LLM_SOLVE_BASE_URL: 'ftp://x' })).toThrow(/GRIP_LLM_SOLVE_BASE_URL/);
    expect(() => loadConfig({ CLICKHOUSE_DATABASE: 'grip; DROP' })).toThrow(/CLICKHOUSE_DATABASE/);
  });

  it('documents every variable it reads, the declared steps and services included', () => {
    const names = new Set(envVarDocs().map((v) => v.name));
    for (const step of LLM_STEPS) expect(names.has(`GRIP_LLM_${step.toUpperCase()}_MODEL`)).toBe(true);
    expect(names.has('GRIP_JUDGE_PORT')).toBe(true);
    const fixed = new Set(ENV_VARS.map((v) => v.name));
    const source = loadConfig.toString();
    for (const match of source.matchAll(/'([A-Z][A-Z0-9_]+)'/g)) expect(fixed.has(match[1])).toBe(true);
  });

  it('refuses a per-step or per-service variable that names no declared step or service (a typo)', () => {
    expect(() => checkConfigNames(loadConfig({ GRIP_LLM_JUDGE_4_MODEL: 'x' }))).toThrow(/GRIP_LLM_JUDGE_4_\*: no such LLM step/);
    expect(() => checkConfigNames(loadConfig({ GRIP_JUGDE_PORT: '9999' }))).toThrow(/GRIP_JUGDE_PORT: no such service/);
    expect(() => checkConfigNames(loadConfig({ GRIP_LLM_SOLVE_HARD_MODEL: 'big', GRIP_JUDGE_PORT: '9999' }))).not.toThrow();
    expect(llmEndpointOf(loadConfig({ GRIP_LLM_SOLVE_HARD_MODEL: 'big' }), 'solve_hard').model).toBe('big');
  });
});
