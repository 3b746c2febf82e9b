import { defineConfig } from 'vitest/config';

// Unit tests are pure and need nothing running. Integration and end-to-end tests talk to the real
// local stack, which their global setup installs (first use) and starts.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          // recipes: how a contributor extends the pipeline, run as tests (on fakes, nothing running)
          include: ['test/unit/**/*.test.ts', 'test/recipes/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          // The end-to-end tests share the integration tests' stack and run after them, one file at a time.
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/setup/stack.global.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          // Fault injection (issue 10): SIGKILLs, second instances, redeliveries, refused rows, replays
          // on the local stack; each scenario ends with the invariant queries of test/invariants.
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          globalSetup: ['test/setup/stack.global.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
