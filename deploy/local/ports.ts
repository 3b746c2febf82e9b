/**
 * Ports of the local stack. The client-facing ones come from the URLs in the config module, so that
 * services/runtime/config.ts stays the one place for them; the internal extra ports sit at fixed
 * offsets from their component's client port. With the default URLs they are Kafka's controller 9093,
 * ClickHouse's native TCP 9000 and interserver 9009, and Apicurio's management 9001 (moved off its own
 * default 9000, ClickHouse's). Shifting the client ports (e.g. every URL +10000) shifts them too, so a
 * second stack (a CI run beside a developer's stack) can run on the same machine.
 */
import type { GripConfig } from '../../services/runtime/config.ts';
import type { ComponentName } from './paths.ts';

export const LOCAL_HOST = '127.0.0.1';

/** Offsets of the internal ports from their component's client port. */
const INTERNAL_OFFSETS = { kafkaController: 1, clickhouseTcp: 877, clickhouseInterserver: 886, registryManagement: 920 } as const;

export function internalPorts(config: GripConfig): Record<keyof typeof INTERNAL_OFFSETS, number> {
  return {
    kafkaController: kafkaHostPort(config).port + INTERNAL_OFFSETS.kafkaController,
    clickhouseTcp: urlHostPort(config.clickhouse.url).port + INTERNAL_OFFSETS.clickhouseTcp,
    clickhouseInterserver: urlHostPort(config.clickhouse.url).port + INTERNAL_OFFSETS.clickhouseInterserver,
    registryManagement: urlHostPort(config.registry.url).port + INTERNAL_OFFSETS.registryManagement,
  };
}

export interface HostPort {
  host: string;
  port: number;
}

function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

export function urlHostPort(url: string): HostPort {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: portOf(parsed) };
}

export function kafkaHostPort(config: GripConfig): HostPort {
  const first = config.kafka.bootstrapServers[0];
  if (first === undefined) throw new Error('kafka: no bootstrap server configured');
  const i = first.lastIndexOf(':');
  return { host: first.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(first.slice(i + 1)) };
}

/** Where a component's clients connect: decides the port the local process listens on. */
export function clientHostPort(config: GripConfig, component: ComponentName): HostPort {
  switch (component) {
    case 'kafka':
      return kafkaHostPort(config);
    case 'registry':
      return urlHostPort(config.registry.url);
    case 'clickhouse':
      return urlHostPort(config.clickhouse.url);
    case 'llm':
      return urlHostPort(config.llm.default.baseUrl);
    case 'embeddings':
      return urlHostPort(config.embeddings.baseUrl);
  }
}

/** Every port a component binds when started locally, with what it is for (for clear conflict messages). */
export function boundPorts(config: GripConfig, component: ComponentName): { port: number; purpose: string }[] {
  const main = { port: clientHostPort(config, component).port, purpose: 'client port' };
  const internal = internalPorts(config);
  switch (component) {
    case 'kafka':
      return [main, { port: internal.kafkaController, purpose: 'KRaft controller port' }];
    case 'registry':
      return [main, { port: internal.registryManagement, purpose: 'management port' }];
    case 'clickhouse':
      return [
        { port: main.port, purpose: 'HTTP port' },
        { port: internal.clickhouseTcp, purpose: 'native TCP port' },
        { port: internal.clickhouseInterserver, purpose: 'interserver port' },
      ];
    default:
      return [main];
  }
}

/** Only components whose configured address is this machine are installed and started by the stack. */
export function isLocalAddress(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]';
}

/** The origin (scheme://host:port) of an OpenAI base URL like http://127.0.0.1:8090/v1. */
export function originOf(url: string): string {
  return new URL(url).origin;
}
