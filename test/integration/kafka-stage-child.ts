/**
 * A stage in its own process, for the signal tests of kafka-stage-process.test.ts:
 *   node --import tsx kafka-stage-child.ts <inputTopic> <outputTopic> <groupId> <sessionTimeoutMs>
 * Doubles seeds with a small delay per message, handles SIGTERM itself (graceful stop), prints one
 * JSON line per finished batch and its stats when it stops.
 */
import type { Seed } from '../../schemas/generated/types.ts';
import { ok } from '../../services/runtime/handler.ts';
import { runStage } from '../../services/runtime/kafka/consumer.ts';
import { connectSerde } from '../../services/runtime/kafka/serde.ts';
import { config, testSpec, transport } from './kafka-helpers.ts';

const [input, output, groupId, sessionTimeout] = process.argv.slice(2) as [string, string, string, string];
const serde = await connectSerde({ url: config.registry.url, topics: [testSpec('grip.seeds', input), testSpec('grip.seeds', output)] });
const handle = await runStage<Seed, Seed>({
  name: `child-${groupId}`,
  inputTopic: input,
  outputTopic: output,
  dlqTopic: `${input}.dlq`,
  groupId,
  transport,
  serde,
  concurrency: 1,
  maxBatchRecords: 2,
  maxInFlightBatches: 1,
  sessionTimeoutMs: Number(sessionTimeout),
  lagIntervalMs: 0,
  handleSignals: true,
  log: (level, message) => process.stderr.write(`${level} ${message}\n`),
  handler: async (s) => {
    await new Promise((r) => setTimeout(r, 40));
    return ok([{ ...s, seed_id: `${s.seed_id}-a` }, { ...s, seed_id: `${s.seed_id}-b` }]);
  },
});
process.stdout.write('ready\n');
handle.done.then(
  () => {
    process.stdout.write(`${JSON.stringify({ stopped: handle.stats().in })}\n`);
    process.exit(0);
  },
  (error) => {
    process.stderr.write(`crashed: ${error}\n`);
    process.exit(1);
  },
);
