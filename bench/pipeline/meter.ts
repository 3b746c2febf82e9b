/**
 * Counts and times the HTTP requests an LlmClient sends, through the client's injectable POST:
 * a request counts when its response arrives, and the rate is completed requests over the time from
 * the first request sent to the last response received. The capacity phase and the pipeline phase
 * are measured by the same meter, so their ratio compares like with like.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { undiciPost, type HttpPost } from '../../services/runtime/openai-http.ts';

export interface RateFigures {
  requests: number;
  failed: number;
  seconds: number;
  rps: number;
  /** Mean time from sending a request to its response (includes waiting in the endpoint's queue). */
  mean_latency_ms: number;
}

export class RequestMeter {
  private first = Infinity;
  private last = -Infinity;
  private completed = 0;
  private failures = 0;
  private latencySum = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** End time and latency of every successful request, for figures over a part of the run. */
  private readonly ends: number[] = [];
  private readonly latencies: number[] = [];

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** A POST that records every request, for LlmClientOptions.http. */
  wrap(inner: HttpPost = undiciPost): HttpPost {
    return async (request) => {
      const started = this.clock();
      this.first = Math.min(this.first, started);
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      try {
        const response = await inner(request);
        if (response.status >= 200 && response.status < 300) {
          this.completed++;
          this.ends.push(this.clock());
          this.latencies.push(this.clock() - started);
        } else this.failures++;
        return response;
      } catch (error) {
        this.failures++;
        throw error;
      } finally {
        this.inFlight--;
        const ended = this.clock();
        this.last = Math.max(this.last, ended);
        this.latencySum += ended - started;
      }
    };
  }

  /** First request sent, in the clock's milliseconds (Infinity before any). */
  get firstAt(): number {
    return this.first;
  }

  figures(): RateFigures {
    const sent = this.completed + this.failures;
    const seconds = sent === 0 ? 0 : (this.last - this.first) / 1000;
    return {
      requests: this.completed,
      failed: this.failures,
      seconds: round(seconds),
      rps: seconds > 0 ? round(this.completed / seconds) : 0,
      mean_latency_ms: sent === 0 ? 0 : round(this.latencySum / sent),
    };
  }

  /** Successful requests that ended in [from, to] (the clock's ms): rate and latency quantiles. */
  between(from: number, to: number): { requests: number; seconds: number; rps: number; p50_ms: number; p99_ms: number } {
    const lat: number[] = [];
    for (let i = 0; i < this.ends.length; i++) if (this.ends[i]! >= from && this.ends[i]! <= to) lat.push(this.latencies[i]!);
    lat.sort((a, b) => a - b);
    const seconds = (to - from) / 1000;
    const q = (x: number) => (lat.length ? round(lat[Math.min(lat.length - 1, Math.floor(x * lat.length))]!) : 0);
    return { requests: lat.length, seconds: round(seconds), rps: seconds > 0 ? round(lat.length / seconds) : 0, p50_ms: q(0.5), p99_ms: q(0.99) };
  }
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * CPU time of this process and its event-loop delay over a phase: when the loop is late, the
 * process (not the endpoint, not Kafka) is what holds requests back.
 */
export function cpuProbe(): { stop(): { cpu_seconds: number; cpu_cores_used: number; event_loop_lag_p99_ms: number; event_loop_lag_mean_ms: number } } {
  const resolutionMs = 10;
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return {
    stop() {
      histogram.disable();
      const cpu = process.cpuUsage(cpu0);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      const wall = (performance.now() - t0) / 1000;
      return {
        cpu_seconds: round(cpuSeconds),
        cpu_cores_used: wall > 0 ? round(cpuSeconds / wall) : 0,
        // the histogram's samples include the sampling interval itself: lag is what exceeds it
        event_loop_lag_p99_ms: round(Math.max(0, histogram.percentile(99) / 1e6 - resolutionMs)),
        event_loop_lag_mean_ms: round(Math.max(0, histogram.mean / 1e6 - resolutionMs)),
      };
    },
  };
}

/**
 * CPU of the whole machine between start and stop, from /proc/stat (Linux; null elsewhere):
 * busy seconds of every process (the broker, ClickHouse, this one) and the time the hypervisor
 * gave to other guests (steal). On a CPU-bound machine a phase's rows/s follows its CPU per row.
 */
export function machineCpuProbe(): { stop(): { busy_cpu_seconds: number; busy_cores: number; steal_cores: number } | null } {
  const read = (): number[] | null => {
    try {
      const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
      return line.trim().split(/\s+/).slice(1).map(Number);
    } catch {
      return null;
    }
  };
  const before = read();
  const t0 = performance.now();
  return {
    stop() {
      const after = read();
      if (!before || !after) return null;
      const d = after.map((v, i) => v - (before[i] ?? 0));
      const ticks = 100; // USER_HZ
      // user nice system idle iowait irq softirq steal (guest is inside user)
      const busy = (d[0]! + d[1]! + d[2]! + d[5]! + d[6]!) / ticks;
      const wall = (performance.now() - t0) / 1000;
      return { busy_cpu_seconds: round(busy), busy_cores: wall > 0 ? round(busy / wall) : 0, steal_cores: wall > 0 ? round((d[7] ?? 0) / ticks / wall) : 0 };
    },
  };
}
