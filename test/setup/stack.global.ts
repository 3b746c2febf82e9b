/**
 * Vitest global setup of the integration project: brings the local stack up (installing it on first
 * use, which can take ~10 minutes; progress is printed) and, in teardown, stops only the components
 * that this setup started, so a developer's already-running stack stays up.
 * GRIP_KEEP_STACK=1 skips the teardown (leave everything running after the tests).
 */
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../services/runtime/config.ts';
import { describeStackError, stackDown, stackUp } from '../../deploy/local/stack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Stack components this setup started (empty: a developer's stack was already running). */
    stackStartedHere: string[];
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const config = loadConfig();
  const t0 = Date.now();
  let started: Awaited<ReturnType<typeof stackUp>>['started'];
  try {
    ({ started } = await stackUp(config, { progress: (m) => process.stderr.write(`[stack] ${m}\n`) }));
  } catch (err) {
    throw new Error(`local stack did not come up: ${describeStackError(err)}`);
  }
  // Several projects (integration, faults) run this setup in one process: the second finds the
  // stack the first started, and must still know the tests own it.
  const ownedByTests = [...new Set([...(process.env.GRIP_TEST_STACK_STARTED ?? '').split(',').filter(Boolean), ...started])];
  process.env.GRIP_TEST_STACK_STARTED = ownedByTests.join(',');
  project.provide('stackStartedHere', ownedByTests);
  process.stderr.write(
    `[stack] ready in ${((Date.now() - t0) / 1000).toFixed(1)} s` +
      (started.length ? ` (started here: ${started.join(', ')})` : ' (already running)') + '\n',
  );

  return async () => {
    // Not a connection setting, so read here rather than in the config module.
    if (process.env.GRIP_KEEP_STACK === '1' || started.length === 0) return;
    const { stopped } = await stackDown(config, { only: started });
    process.stderr.write(`[stack] teardown stopped: ${stopped.join(', ') || 'nothing'}\n`);
  };
}
