import { describe, expect, it } from 'vitest';
import { boundPorts, internalPorts } from '../../deploy/local/ports.ts';
import { COMPONENTS } from '../../deploy/local/paths.ts';
import { loadConfig } from '../../services/runtime/config.ts';

const shifted = loadConfig({
  KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:19092',
  SCHEMA_REGISTRY_URL: 'http://127.0.0.1:18081/apis/ccompat/v7',
  CLICKHOUSE_URL: 'http://127.0.0.1:18123',
  GRIP_LLM_BASE_URL: 'http://127.0.0.1:18090/v1',
  GRIP_EMBEDDINGS_BASE_URL: 'http://127.0.0.1:18091/v1',
});

const allPorts = (config: ReturnType<typeof loadConfig>) => COMPONENTS.flatMap((c) => boundPorts(config, c).map((p) => p.port));

describe('local stack ports', () => {
  it('keeps the usual internal ports with the default URLs', () => {
    expect(internalPorts(loadConfig({}))).toEqual({ kafkaController: 9093, clickhouseTcp: 9000, clickhouseInterserver: 9009, registryManagement: 9001 });
  });

  it('shifts every port with the client URLs, so two stacks can share a machine', () => {
    const a = allPorts(loadConfig({}));
    const b = allPorts(shifted);
    expect(new Set(a).size).toBe(a.length);
    expect(new Set(b).size).toBe(b.length);
    expect(b.filter((p) => a.includes(p))).toEqual([]);
  });
});
