/**
 * Phase c: the judge at scale.
 *
 * 1. Cold start: instance A with an empty state folder (no checkpoint) reads grip.seeds and every
 *    verdict in grip.verdicts: from spawn to 'judge state rebuilt' (and the log's own figure), its
 *    RSS, and the checkpoint it writes after reading the tail.
 * 2. Takeover: instance B is started on the same state folder (a standby on the same host shares
 *    it) and waits as a standby; A is SIGKILLed; `fresh` candidates no stage has seen are produced;
 *    the figure is the time from the kill to the first verdict of one of them in grip.verdicts (B
 *    took the lease, restored the checkpoint, read the log tail, joined the judge's group, judged).
 *    The fake model answers every judge prompt at once, so the figure is the takeover, not a model.
 * Peak RSS (VmHWM) of both processes.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Verdict } from '../../schemas/generated/types.ts';
import { checkpointFile } from '../../services/runtime/checkpoint.ts';
import { readLog } from '../../services/runtime/kafka/index.ts';
import { log, round, seconds, sleep, until, type ScaleContext } from './context.ts';
import { healthOf, ServiceProcess, type LogLine } from './process.ts';
import { produceTopic } from './produce.ts';

/** How long a rebuild may take before the bench gives up: generous (2 ms a verdict, 5 min at least). */
const rebuildTimeoutMs = (ctx: ScaleContext) => Math.max(300_000, ctx.sizes.combinations * 2);

const at = (line: LogLine | undefined, from: number) => (line ? round((line.at - from) / 1000) : null);

export async function judgeScale(ctx: ScaleContext, ports: { a: number; b: number }, killed: number[]) {
  const stateDir = path.join(ctx.work, 'state-judge');
  const env = { ...ctx.env, GRIP_STATE_DIR: stateDir };
  const out: Record<string, unknown> = {};

  log('judge: cold start (no checkpoint) ...');
  const a = new ServiceProcess('judge', 'judge-a', env, ports.a, ctx.logDir);
  try {
    const first = await a.waitFor(/.*/, 120_000, { signal: ctx.signal });
    const rebuilt = await a.waitFor('judge state rebuilt', rebuildTimeoutMs(ctx), { signal: ctx.signal });
    const settled = Number(rebuilt.fields.verdicts_of_this_config);
    if (settled !== ctx.produced['grip.verdicts']) {
      throw new Error(`judge A took ${settled} verdicts as its configuration's (of ${ctx.produced['grip.verdicts']} produced, version ${ctx.judgeConfigVersion} vs the judge's ${String(rebuilt.fields.judge_config_version)}): the bench's settings and the judge's differ`);
    }
    const memoryAtRebuilt = a.memory();
    const checkpoint = await a.waitFor('state checkpoint written', 600_000, { from: rebuilt.index, signal: ctx.signal, where: (l) => l.fields.stage === 'judge' });
    const file = checkpointFile(path.join(stateDir, 'judge'), 'judge');
    const checkpointsDuringRebuild = a.lines.slice(0, rebuilt.index).filter((l) => l.message === 'state checkpoint written').length;
    out.cold_start = {
      seconds_spawn_to_rebuilt: round((rebuilt.at - a.startedAt) / 1000),
      seconds_spawn_to_first_log_line: round((first.at - a.startedAt) / 1000),
      lease_acquired_after_s: at(a.lines.find((l) => l.message === 'this instance holds the lease: active'), a.startedAt),
      rebuild_seconds_logged: rebuilt.fields.seconds,
      seeds_read: rebuilt.fields.seeds_read,
      verdicts_read: rebuilt.fields.verdicts_read,
      verdicts_of_this_config: settled,
      memory_after_rebuild: memoryAtRebuilt,
      checkpoints_written_during_rebuild: checkpointsDuringRebuild,
      checkpoint_after_tail: { written_after_s: round((checkpoint.at - a.startedAt) / 1000), bytes: checkpoint.fields.bytes, write_seconds: checkpoint.fields.seconds, file_exists: fs.existsSync(file), file_bytes: fs.existsSync(file) ? fs.statSync(file).size : null },
    };
    log(`  judge A: state rebuilt ${round((rebuilt.at - a.startedAt) / 1000)} s after spawn (logged ${String(rebuilt.fields.seconds)} s: ${String(rebuilt.fields.verdicts_read)} verdicts, ${String(rebuilt.fields.seeds_read)} seeds); RSS ${memoryAtRebuilt.rss_mb} MB, peak ${memoryAtRebuilt.peak_rss_mb} MB; checkpoint ${String(checkpoint.fields.bytes)} bytes`);

    log('judge: a second instance (standby), then SIGKILL of the active one and fresh candidates ...');
    const b = new ServiceProcess('judge', 'judge-b', env, ports.b, ctx.logDir);
    try {
      await b.waitFor('waiting for the lease of the active instance', 120_000, { signal: ctx.signal });
      // The second instance joining the lease group makes it rebalance; the lease may stay or move
      // to the newcomer (leader.ts: a holder that misses it for graceMs stops, a new holder starts
      // after holding it that long). Wait until one instance is active and the other a standby,
      // the same way for 15 s, then kill the active one.
      const joinedAt = performance.now();
      let seenRoles = '';
      let stableSince = 0;
      const history: string[] = [];
      const roles = await until(
        'one active judge and one standby, stable for 15 s',
        async () => {
          const [ha, hb] = await Promise.all([healthOf(ports.a), healthOf(ports.b)]);
          const now = `${ha}/${hb}`;
          if (now !== seenRoles) {
            history.push(`${round((performance.now() - joinedAt) / 1000)} s: a ${ha}, b ${hb}`);
            seenRoles = now;
            stableSince = performance.now();
          }
          if (performance.now() - stableSince < 15_000) return undefined;
          if (ha === 'ok' && hb === 'standby') return { active: a, standby: b };
          if (hb === 'ok' && ha === 'standby') return { active: b, standby: a };
          return undefined;
        },
        240_000,
        500,
        ctx.signal,
      );
      out.roles_after_the_second_instance_joined = history;
      const { active, standby } = roles;
      out.lease_moved_when_the_second_instance_joined = active === b;
      const memoryActive = active.memory();
      const ends = new Map((await ctx.admin.endOffsets(['grip.verdicts'])).map((e) => [e.partition, e.offset]));
      const fresh = ctx.synth.freshCandidates(ctx.options.fresh, `${process.pid}-${Date.now()}`, Date.now());
      const freshIds = new Set(fresh.map((c) => c.candidate_id));
      const seen = new Map<string, number>();
      let firstVerdict: number | undefined;
      let allVerdicts: number | undefined;
      const watcher = await readLog<Verdict>({
        transport: ctx.transport,
        serde: ctx.serde,
        topic: 'grip.verdicts',
        name: 'scale-bench-takeover',
        follow: true,
        from: ends,
        onValue: (v) => {
          if (!freshIds.has(v.candidate_id) || seen.has(v.candidate_id)) return;
          seen.set(v.candidate_id, performance.now());
          firstVerdict ??= performance.now();
          if (seen.size === freshIds.size) allVerdicts = performance.now();
        },
      });
      try {
        await watcher.caughtUp;
        const standbyLinesBefore = standby.lines.length;
        const killAt = performance.now();
        active.kill('SIGKILL');
        killed.push(active.pid);
        await active.exited;
        const produced = await produceTopic(ctx.transport, ctx.serde, 'grip.candidates', [fresh], { signal: ctx.signal });
        const producedAt = performance.now();
        await until('a verdict of a fresh candidate', async () => firstVerdict !== undefined, 600_000, 100, ctx.signal);
        await until('verdicts of every fresh candidate', async () => allVerdicts !== undefined, 300_000, 100, ctx.signal).catch(() => undefined);
        const after = standby.lines.slice(standbyLinesBefore);
        const took = after.find((l) => l.message === 'this instance holds the lease: active');
        const restored = after.find((l) => l.message === 'judge state restored from its checkpoint');
        const ready = after.find((l) => l.message === 'judge state rebuilt');
        const notUsed = after.find((l) => l.message === 'judge checkpoint not used; reading the logs from their first records');
        const memoryStandby = standby.memory();
        const takeover = {
          killed: active.label,
          took_over: standby.label,
          fresh_candidates: fresh.length,
          seconds_kill_to_first_new_verdict: round((firstVerdict! - killAt) / 1000),
          seconds_kill_to_all_new_verdicts: allVerdicts ? round((allVerdicts - killAt) / 1000) : null,
          new_verdicts_seen: seen.size,
          fresh_candidates_produced_after_s: round((producedAt - killAt) / 1000),
          standby_active_after_s: at(took, killAt),
          standby_checkpoint_restored_after_s: at(restored, killAt),
          standby_checkpoint_not_used_reason: notUsed?.fields.reason ?? null,
          standby_state_ready_after_s: at(ready, killAt),
          standby_tail_read: ready ? { seeds_read: ready.fields.seeds_read, verdicts_read: ready.fields.verdicts_read, seconds: ready.fields.seconds, verdicts_of_this_config: ready.fields.verdicts_of_this_config } : null,
          produce: produced,
        };
        out.takeover = takeover;
        log(`  takeover: first verdict of a fresh candidate ${takeover.seconds_kill_to_first_new_verdict} s after the kill (standby active after ${takeover.standby_active_after_s} s, state ready after ${takeover.standby_state_ready_after_s} s; checkpoint ${restored ? 'restored' : `not used: ${String(notUsed?.fields.reason)}`})`);
        const memoryA = a === active ? memoryActive : a.memory();
        const memoryB = b === active ? memoryActive : memoryStandby;
        out.memory = {
          a_peak_rss_mb: memoryA.peak_rss_mb,
          b_peak_rss_mb: memoryB.peak_rss_mb,
          killed_rss_before_kill_mb: memoryActive.rss_mb,
          took_over_rss_mb: memoryStandby.rss_mb,
          peak_rss_mb: Math.max(memoryA.peak_rss_mb ?? 0, memoryB.peak_rss_mb ?? 0),
        };
        log(`  judge peak RSS: A ${memoryA.peak_rss_mb} MB, B ${memoryB.peak_rss_mb} MB`);
      } finally {
        await watcher.stop();
      }
      const t = performance.now();
      const stopped = await standby.stop();
      out.graceful_stop = { seconds: seconds(t), ...stopped, checkpoint_written_at_stop: standby.lines.some((l) => l.message === 'state checkpoint written' && l.fields.stage === 'judge' && l.at >= t) };
      out.errors_logged = [...a.errors(), ...b.errors()].slice(0, 10);
      out.lease_log = [...a.lines.map((l) => ({ l, who: 'a', from: a.startedAt })), ...b.lines.map((l) => ({ l, who: 'b', from: a.startedAt }))]
        .filter(({ l }) => /lease|standby|judge state/.test(l.message))
        .sort((x, y) => x.l.at - y.l.at)
        .map(({ l, who, from }) => `${round((l.at - from) / 1000)} s ${who}: ${l.message}`);
    } finally {
      await b.stop();
    }
  } finally {
    await a.stop();
  }
  return out;
}
