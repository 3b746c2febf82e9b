/**
 * Ports of the local stack. The client-facing ones come from the URLs in the config module, so that
 * services/runtime/config.ts stays the one place for them; the internal extra ports are constants
 * here, chosen not to collide with each other or with the client-facing defaults (ClickHouse's native
 * TCP default 9000 equals Apicurio's management default 9000, so Apicurio's management port moves).
 */
import type { GripConfig } from '../../services/runtime/config.ts';
import type { ComponentName } from './paths.ts';

export const LOCAL_HOST = '127.0.0.1';

export const INTERNAL_PORTS = {
  kafkaController: 9093,
  clickhouseTcp: 9000,
  clickhouseInterserver: 9009,
  registryManagement: 9001,
} as const;

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
      return urlHostPort(config.llm.extract.baseUrl);
    case 'embeddings':
      return urlHostPort(config.embeddings.baseUrl);
  }
}

/** Every port a component binds when started locally, with what it is for (for clear conflict messages). */
export function boundPorts(config: GripConfig, component: ComponentName): { port: number; purpose: string }[] {
  const main = { port: clientHostPort(config, component).port, purpose: 'client port' };
  switch (component) {
    case 'kafka':
      return [main, { port: INTERNAL_PORTS.kafkaController, purpose: 'KRaft controller port' }];
    case 'registry':
      return [main, { port: INTERNAL_PORTS.registryManagement, purpose: 'management port' }];
    case 'clickhouse':
      return [
        { port: main.port, purpose: 'HTTP port' },
        { port: INTERNAL_PORTS.clickhouseTcp, purpose: 'native TCP port' },
        { port: INTERNAL_PORTS.clickhouseInterserver, purpose: 'interserver port' },
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
