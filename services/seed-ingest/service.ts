/**
 * seed-ingest service: HTTP `POST /seeds` with a JSONL body -> grip.seeds (and grip.seeds.dlq for
 * lines it refuses). The route, its checks (Host, Origin, token, Content-Type, size, concurrency)
 * and its streaming parse are in http.ts.
 */
import { ConfigError } from '../runtime/config.ts';
import type { RunningService, ServiceContext } from '../runtime/stage.ts';
import { isLoopbackAddress } from '../runtime/web-guard.ts';
import { seedRoutes } from './http.ts';

export const startSeedIngest = async (ctx: ServiceContext): Promise<RunningService> => {
  const { host, ingestToken, allowedHosts } = ctx.config.services;
  if (!isLoopbackAddress(host) && !ingestToken) {
    throw new ConfigError(`GRIP_SERVICES_HOST=${host} is not a loopback address: set GRIP_INGEST_TOKEN, the token POST /seeds will require, before exposing seed-ingest`);
  }
  const producer = ctx.transport.producer();
  let stopped = false;
  const seeds = seedRoutes({ producer, serde: ctx.serde, token: ingestToken, allowedHosts, log: ctx.log, accepting: () => !stopped });
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));

  return {
    routes: seeds.route,
    healthy: () => !stopped,
    done,
    stop: async () => {
      stopped = true;
      await seeds.idle();
      resolveDone();
      await producer.close();
    },
  };
};
