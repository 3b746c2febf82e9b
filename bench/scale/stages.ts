/**
 * Phases d and e: concept-graph's cold start (no checkpoint: every combination in grip.pairs and
 * every seed's concepts read) and its restart (a graceful stop, then a new process that reads the
 * checkpoint and the log tails), and concept-extractor's KC registry rebuild from grip.kc-registry.
 * Each is a `grip services run` process; times from spawn to the log line that says its state is
 * ready, with the log's own figures, and its memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { checkpointFile } from '../../services/runtime/checkpoint.ts';
import { log, round, type ScaleContext } from './context.ts';
import { ServiceProcess } from './process.ts';

const REBUILT = 'graph rebuilt from grip.pairs and grip.concepts';

export async function conceptGraphScale(ctx: ScaleContext, port: number) {
  const stateDir = path.join(ctx.work, 'state-graph');
  const env = { ...ctx.env, GRIP_STATE_DIR: stateDir };
  const timeoutMs = Math.max(300_000, ctx.sizes.combinations);
  log('concept-graph: cold start (no checkpoint) ...');
  const first = new ServiceProcess('concept-graph', 'concept-graph-1', env, port, ctx.logDir);
  let cold: Record<string, unknown>;
  let stopAt: number;
  let stopped: Awaited<ReturnType<ServiceProcess['stop']>>;
  try {
    const rebuilt = await first.waitFor(REBUILT, timeoutMs, { signal: ctx.signal });
    const memory = first.memory();
    const checkpoint = await first.waitFor('state checkpoint written', 600_000, { from: rebuilt.index, signal: ctx.signal, where: (l) => l.fields.stage === 'concept-graph' });
    cold = {
      seconds_spawn_to_rebuilt: round((rebuilt.at - first.startedAt) / 1000),
      lease_acquired_after_s: leaseAt(first),
      rebuild_seconds_logged: rebuilt.fields.seconds,
      pairs_read: rebuilt.fields.pairs_read,
      concepts_read: rebuilt.fields.concepts_read,
      seeds: rebuilt.fields.seeds,
      combinations_emitted: rebuilt.fields.combinations_emitted,
      owed_at_start: first.lines.find((l) => l.message === 'combinations owed at start')?.fields.owed ?? 0,
      memory,
      checkpoint: { bytes: checkpoint.fields.bytes, write_seconds: checkpoint.fields.seconds, written_after_s: round((checkpoint.at - first.startedAt) / 1000) },
    };
    log(`  concept-graph: graph rebuilt ${String(cold.seconds_spawn_to_rebuilt)} s after spawn (logged ${String(rebuilt.fields.seconds)} s: ${String(rebuilt.fields.pairs_read)} pairs, ${String(rebuilt.fields.concepts_read)} concepts); RSS ${memory.rss_mb} MB, peak ${memory.peak_rss_mb} MB; checkpoint ${String(checkpoint.fields.bytes)} bytes`);
  } finally {
    stopAt = performance.now();
    stopped = await first.stop();
  }
  const stopSeconds = round((performance.now() - stopAt) / 1000);
  const file = checkpointFile(path.join(stateDir, 'concept-graph'), 'concept-graph');
  log('concept-graph: restart (with its checkpoint) ...');
  const second = new ServiceProcess('concept-graph', 'concept-graph-2', env, port, ctx.logDir);
  try {
    const rebuilt = await second.waitFor(REBUILT, timeoutMs, { signal: ctx.signal });
    const restored = second.lines.find((l) => l.message === 'concept-graph state restored from its checkpoint');
    const notUsed = second.lines.find((l) => l.message === 'concept-graph checkpoint not used; reading the logs from their first records');
    const memory = second.memory();
    const restart = {
      seconds_spawn_to_rebuilt: round((rebuilt.at - second.startedAt) / 1000),
      seconds_stop_signal_to_rebuilt: round((rebuilt.at - stopAt) / 1000),
      previous_instance_stop_seconds: stopSeconds,
      previous_instance_stop: stopped,
      checkpoint_file_bytes: fs.existsSync(file) ? fs.statSync(file).size : null,
      checkpoint_restored: restored !== undefined,
      checkpoint_restored_after_s: restored ? round((restored.at - second.startedAt) / 1000) : null,
      checkpoint_not_used_reason: notUsed?.fields.reason ?? null,
      lease_acquired_after_s: leaseAt(second),
      rebuild_seconds_logged: rebuilt.fields.seconds,
      pairs_read: rebuilt.fields.pairs_read,
      concepts_read: rebuilt.fields.concepts_read,
      combinations_emitted: rebuilt.fields.combinations_emitted,
      memory,
    };
    log(`  concept-graph restart: state ready ${restart.seconds_spawn_to_rebuilt} s after spawn, ${restart.seconds_stop_signal_to_rebuilt} s after the stop signal (checkpoint ${restored ? 'restored' : `not used: ${String(notUsed?.fields.reason)}`}; tail: ${String(rebuilt.fields.pairs_read)} pairs, ${String(rebuilt.fields.concepts_read)} concepts); peak RSS ${memory.peak_rss_mb} MB`);
    return { cold_start: cold, restart, peak_rss_mb: Math.max(Number((cold.memory as any).peak_rss_mb ?? 0), memory.peak_rss_mb ?? 0), errors_logged: [...first.errors(), ...second.errors()].slice(0, 10) };
  } finally {
    await second.stop();
  }
}

function leaseAt(p: ServiceProcess): number | null {
  const line = p.lines.find((l) => l.message === 'this instance holds the lease: active');
  return line ? round((line.at - p.startedAt) / 1000) : null;
}

export async function conceptExtractorScale(ctx: ScaleContext, port: number) {
  const env = { ...ctx.env, GRIP_STATE_DIR: path.join(ctx.work, 'state-extractor') };
  log('concept-extractor: KC registry rebuild ...');
  const p = new ServiceProcess('concept-extractor', 'concept-extractor', env, port, ctx.logDir);
  try {
    const first = await p.waitFor(/.*/, 120_000, { signal: ctx.signal });
    const rebuilt = await p.waitFor('KC registry rebuilt from grip.kc-registry', Math.max(300_000, ctx.sizes.kcs * 10), { signal: ctx.signal });
    const memory = p.memory();
    const entries = Number(rebuilt.fields.entries);
    if (entries !== ctx.produced['grip.kc-registry']) throw new Error(`concept-extractor applied ${entries} registry entries of ${ctx.produced['grip.kc-registry']} (skipped: other model ${String(rebuilt.fields.skipped_other_model)}, other dimension ${String(rebuilt.fields.refused_other_dimension)})`);
    // the service's first log line comes once Kafka answered and the topics and schemas are checked;
    // the rebuild is what follows it
    const figures = {
      seconds_spawn_to_rebuilt: round((rebuilt.at - p.startedAt) / 1000),
      seconds_first_log_line_to_rebuilt: round((rebuilt.at - first.at) / 1000),
      rebuild_seconds_logged: rebuilt.fields.seconds,
      entries,
      kcs: rebuilt.fields.kcs,
      skipped_other_model: rebuilt.fields.skipped_other_model,
      refused_other_dimension: rebuilt.fields.refused_other_dimension,
      memory,
      errors_logged: p.errors().slice(0, 10),
    };
    log(`  concept-extractor: registry of ${String(rebuilt.fields.kcs)} KCs rebuilt ${figures.seconds_spawn_to_rebuilt} s after spawn (logged ${String(rebuilt.fields.seconds)} s); RSS ${memory.rss_mb} MB, peak ${memory.peak_rss_mb} MB`);
    return figures;
  } finally {
    await p.stop();
  }
}
