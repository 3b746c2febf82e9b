/** Child process of bench/pipeline/endpoint.ts: argv[2] = the endpoint's shape as JSON (EndpointShape). */
import { answerGripPrompt } from '../../test/fixtures/grip-answers.ts';
import { startFakeOpenAI } from '../../test/fixtures/openai-server.ts';

const shape = JSON.parse(process.argv[2] ?? '{}');
try {
  const server = await startFakeOpenAI({ ...shape, reply: (body) => answerGripPrompt(body) });
  const shutdown = () => void server.close().finally(() => process.exit(0));
  process.on('SIGTERM', shutdown);
  process.on('disconnect', shutdown); // the parent died or let go: do not linger
  process.on('message', (m) => {
    if (m === 'stats') process.send?.({ kind: 'stats', requests: server.requests.length, maxInFlight: server.maxInFlight, busyMs: server.busyMs, rejected: server.rejected, failed: server.failed });
  });
  process.send?.({ kind: 'ready', baseUrl: server.baseUrl });
} catch (error) {
  process.send?.({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}
