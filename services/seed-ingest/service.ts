/**
 * seed-ingest service: HTTP `POST /seeds` with a JSONL body -> grip.seeds (and grip.seeds.dlq for
 * lines it refuses). Field mapping by query string: ?problem_field=&solution_field=&id_field=.
 * Answers 200 with {accepted, duplicates, rejected: [{line, reason, message}], seed_ids} once the
 * broker acknowledged every record; 413 for a body over the limit; 503 when Kafka is unreachable
 * (nothing was acknowledged for the lines not yet sent: the client may send the body again, and
 * content-hash ids make the repeat harmless).
 */
import type http from 'node:http';
import { MATH_FIELDS, type FieldMapping } from '../../core/seeds/index.ts';
import { errorMessage } from '../runtime/kafka/errors.ts';
import type { RunningService, ServiceContext } from '../runtime/stage.ts';
import { publishSeeds } from './publish.ts';

/** Largest POST /seeds body. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

export const startSeedIngest = async (ctx: ServiceContext): Promise<RunningService> => {
  const producer = ctx.transport.producer();
  let inFlight = 0;
  let stopped = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));

  const reply = (res: http.ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);

  const routes: RunningService['routes'] = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/seeds') return false;
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return true;
    }
    if (stopped) {
      reply(res, 503, { error: 'seed-ingest is shutting down' });
      return true;
    }
    const fields: FieldMapping = {
      problem: url.searchParams.get('problem_field') || MATH_FIELDS.problem,
      solution: url.searchParams.get('solution_field') || MATH_FIELDS.solution,
      id: url.searchParams.get('id_field') || undefined,
    };
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) return reply(res, 413, { error: `body has more than ${MAX_BODY_BYTES} bytes; send the seeds in several requests` });
      inFlight++;
      publishSeeds(Buffer.concat(chunks), { producer, serde: ctx.serde, fields, source: 'http' })
        .then(
          (result) => reply(res, 200, result),
          (error) => {
            ctx.log('error', 'POST /seeds failed', { error: errorMessage(error) });
            reply(res, 503, { error: `could not write to Kafka: ${errorMessage(error)}` });
          },
        )
        .finally(() => {
          inFlight--;
          if (stopped && inFlight === 0) resolveDone();
        });
    });
    return true;
  };

  return {
    routes,
    healthy: () => !stopped,
    done,
    stop: async () => {
      stopped = true;
      if (inFlight === 0) resolveDone();
      await done;
      await producer.close();
    },
  };
};
