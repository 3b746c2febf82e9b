/**
 * Fault: the judge receives the same candidate twice while the first copy is still being judged
 * (what a problem-synth crash with batches in flight, or a rebalance, produces; issue 10). The
 * candidates of a small run are produced to grip.candidates twice more, byte for byte, before the
 * judge starts; its model endpoint is slow, so the copies of one candidate are in flight together.
 * There must be one verdict per candidate, none a duplicate of itself, and what was accepted stays
 * accepted; then every invariant holds.
 */
import { describe, expect, it } from 'vitest';
import { connectSerde, platformaticTransport, readLog, type InRecord } from '../../services/runtime/kafka/index.ts';
import { expectInvariants, faultScenario, grip, rows, scalar, seedsFile, up, waitUntilIdle } from './helpers.ts';

const UPSTREAM = ['seed-ingest', 'concept-extractor', 'concept-graph', 'problem-synth', 'clickhouse-sink'];
const JUDGE_PROMPTS = new Set(['problem_judgement', 'solution_judgement', 'answer_check']);
const s = faultScenario(
  'judge',
  ['seed: 3', 'concurrency: 2', 'services:', '  combinations_per_seed: 2', '  max_combinations: 6', 'judging:', '  threshold: 0.5'],
  { latencyMs: (prompt) => (JUDGE_PROMPTS.has(prompt) ? 400 : 0) },
);

describe('the judge receiving one candidate several times at once', () => {
  it('writes one verdict per candidate, none a duplicate of itself, and the accepted stay accepted', async () => {
    const { f, ch } = s;
    up(f, UPSTREAM);
    expect(grip(['seed', 'add', seedsFile(f.work, 6)], f.env).status).toBe(0);
    await waitUntilIdle(f.config, 240_000, UPSTREAM);

    const transport = platformaticTransport(f.config.kafka);
    const serde = await connectSerde({ url: f.config.registry.url });
    const candidates: InRecord[] = [];
    await (await readLog<InRecord>({ transport, serde, topic: 'grip.candidates', name: 'faults-judge-twice', decode: async (r) => r, onValue: (r) => void candidates.push(r) })).done;
    expect(candidates.length).toBeGreaterThan(1);
    const producer = transport.producer();
    try {
      const copy = (r: InRecord) => ({ topic: r.topic, key: r.key, value: r.value!, headers: r.headers });
      await producer.send(candidates.flatMap((r) => [copy(r), copy(r)]));
    } finally {
      await producer.close();
    }

    up(f, ['judge']);
    await waitUntilIdle(f.config, 240_000);
    const judged = await rows<{ candidate_id: string; n: string }>(ch, `SELECT candidate_id, uniqExact(verdict_id) AS n FROM ${f.db}.verdicts GROUP BY candidate_id`);
    expect(judged).toHaveLength(candidates.length);
    expect(judged.filter((r) => Number(r.n) !== 1)).toEqual([]);
    // Every copy after the first is answered with the first's verdict: no stored version differs.
    expect(await scalar(ch, `SELECT count() FROM (SELECT verdict_id FROM ${f.db}.verdicts GROUP BY verdict_id HAVING uniqExact(accepted) > 1 OR uniqExact(reason) > 1)`)).toBe(0);
    expect(await scalar(ch, `SELECT count() FROM ${f.db}.verdicts FINAL WHERE accepted = 1`)).toBeGreaterThan(0);
    await expectInvariants(ch, f);
  });
});
