/** seed-ingest, declared: the pipeline's intake (HTTP `POST /seeds` and `grip seed add`). */
import { declareService } from '../runtime/stage.ts';

export const seedIngest = declareService({
  name: 'seed-ingest',
  description: 'POST /seeds (JSONL) -> grip.seeds; refused lines to grip.seeds.dlq with the reason',
  port: 9401,
  scaling: 'any',
  llmSteps: [],
  produces: ['grip.seeds'],
  consumes: [],
  needsKafka: true,
  start: async (ctx) => (await import('./service.ts')).startSeedIngest(ctx),
});
