/**
 * What this process waits on: one board per process, written by the retry protocol (retry.ts)
 * whenever a call to a dependency fails or succeeds, read by the stage runner (it stops taking
 * messages while a dependency refuses its configuration) and by /healthz (alive vs ready: a service
 * waiting on Kafka, a model server or ClickHouse says so, with the dependency and since when).
 */
import { Gauge } from 'prom-client';
import type { FailureKind } from './errors.ts';

const dependencyUp = new Gauge({
  name: 'grip_dependency_up',
  help: '0 while calls to a dependency fail (waiting or refused by configuration), 1 once they work again',
  labelNames: ['dependency'] as const,
});

export interface DependencyProblem {
  /** `kafka`, `schema-registry`, `clickhouse`, `llm <base url> <model>`, `embeddings <base url>`. */
  dependency: string;
  /** waiting: down, slow or overloaded (transient); configuration: refuses our settings. */
  kind: 'waiting' | 'configuration';
  reason: string;
  /** When the calls began to fail (ms since the epoch). */
  since: number;
}

export class DependencyBoard {
  private readonly problems = new Map<string, DependencyProblem>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A call to `dependency` failed; the first failure of an outage sets `since`. */
  failed(dependency: string, kind: FailureKind, reason: string): void {
    if (kind === 'bad_input' || kind === 'overload') return; // the message's fault / normal backpressure: the dependency works
    const as = kind === 'configuration' ? 'configuration' : 'waiting';
    const known = this.problems.get(dependency);
    this.problems.set(dependency, { dependency, kind: as, reason: reason.split('\n')[0]!.slice(0, 500), since: known?.kind === as ? known.since : this.now() });
    dependencyUp.set({ dependency }, 0);
  }

  /** A call to `dependency` worked: whatever was wrong with it is over. */
  succeeded(dependency: string): void {
    if (this.problems.delete(dependency)) dependencyUp.set({ dependency }, 1);
  }

  /** Configuration problems: a stage takes no new message while there is one. */
  refusing(): DependencyProblem[] {
    return [...this.problems.values()].filter((p) => p.kind === 'configuration');
  }

  list(): DependencyProblem[] {
    return [...this.problems.values()].sort((a, b) => a.since - b.since);
  }

  clear(): void {
    this.problems.clear();
  }
}

/** The process's board (a service is one process; `grip run` shares one among its stages). */
export const processDependencies = new DependencyBoard();
