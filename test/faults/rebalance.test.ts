/**
 * Fault: rebalances with batches in flight, caused by scaling (no kill). problem-synth A works
 * alone on a slow model whose answers vary per call; while several of its batches are in flight
 * and candidates are being produced, instance B joins the group (A's partitions are revoked in
 * the middle of its batches), then, while B has batches in flight, B is stopped gracefully
 * (SIGTERM: its partitions go back to A). Nobody crashes, so the only thing that can go wrong is
 * the handing over itself: work made twice with other answers (a second candidate for one
 * combination), work committed past what was done (a lost combination), or a member that stops
 * fetching after the rebalance (a stall). Then, within a bound: every group at lag 0, A never
 * exited, one candidate per combination, every combination and candidate accounted for, every
 * invariant.
 */
import { describe, expect, it } from 'vitest';
import { candidatesByCombo, expectAccountedFor, faultScenario, grip, healthy, PORT_BASE, rows, scaleOutSettings, seedsFile, slowExceptJudge, startInstance, stopInstance, topicRecords, up, waitFor, waitUntilIdle, type Instance } from './helpers.ts';

const SEEDS = 16;
const COMBINATIONS = 48;
// 200-1200 ms a synthesis call: problem-synth holds several batches at once, finishing out of order.
const s = faultScenario('rebalance', scaleOutSettings(COMBINATIONS), { nonReproducible: true, latencyMs: slowExceptJudge(200, 1000) });

/** A stage's gauge or counter from an instance's /metrics (sum over label sets); 0 when absent. */
async function metric(port: number, name: string): Promise<number> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  } catch {
    return 0;
  }
}

describe('problem-synth scaled out and back in while batches are in flight, answers varying per call', () => {
  it('hands partitions over with no duplicate, no loss and no stall', async () => {
    const { f, ch, instances } = s;
    const [portA, portB] = [PORT_BASE + 21, PORT_BASE + 22];
    up(f, ['seed-ingest', 'concept-extractor', 'concept-graph', 'judge', 'clickhouse-sink']);
    const synthA = startInstance(f, 'problem-synth', 'synth-a', portA);
    instances.push(synthA);
    await waitFor('problem-synth A healthy', () => healthy(portA), 120_000, 500);
    expect(grip(['seed', 'add', seedsFile(f.work, SEEDS)], f.env).status).toBe(0);

    // B joins while A holds several batches and has produced some candidates.
    const aBusy = await waitFor(
      'problem-synth A with 2+ batches in flight after producing candidates',
      async () => {
        const inFlight = await metric(portA, 'grip_stage_in_flight_batches');
        return inFlight >= 2 && (await topicRecords(f.config, 'grip.candidates')) >= 4 && inFlight;
      },
      240_000,
      50,
    );
    const synthB: Instance = startInstance(f, 'problem-synth', 'synth-b', portB);
    instances.push(synthB);
    await waitFor('problem-synth B healthy', () => healthy(portB), 120_000, 500);
    // The rebalance gave B partitions: it consumes, and has batches of its own in flight.
    await waitFor('problem-synth B with a batch in flight', async () => (await metric(portB, 'grip_stage_in_flight_batches')) >= 1, 180_000, 50);
    const bIn = await metric(portB, 'grip_stage_messages_in_total');
    expect(bIn, 'B was given partitions by the rebalance').toBeGreaterThan(0);

    // B leaves gracefully in the middle of its batches: its partitions go back to A.
    const stopping = Date.now();
    await stopInstance(synthB, 'SIGTERM');
    const bStopSeconds = (Date.now() - stopping) / 1000;
    expect(synthB.child.exitCode, `B's exit after SIGTERM (log: ${synthB.log().slice(-2000)})`).toBe(0);

    await waitUntilIdle(f.config, 240_000);
    expect(synthA.child.exitCode, 'A kept running through both rebalances').toBeNull();
    expect(synthA.child.signalCode).toBeNull();

    const { records, byCombo, remade } = await candidatesByCombo(f, 'faults-rebalance');
    console.info(
      `rebalance: A had ${aBusy} batches in flight when B joined; B consumed ${bIn} messages, stopped in ${bStopSeconds.toFixed(1)} s; ` +
        `${records} candidate records for ${byCombo.size} combinations, ${remade.length} made again with other answers`,
    );
    // One candidate id per combination, whoever made it and however often.
    for (const cs of byCombo.values()) expect(new Set(cs.map((c) => c.candidate_id)).size, cs[0]!.combo_id).toBe(1);
    expect(await rows(ch, `SELECT combo_id, uniqExact(candidate_id) AS n FROM ${f.db}.candidates GROUP BY combo_id HAVING n > 1`)).toEqual([]);
    expect(byCombo.size).toBeGreaterThan(4);
    await expectAccountedFor(ch, f);
  });
});
