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
          // The end-to-end and fault-injection tests (test:faults: SIGKILLs, second instances,
          // redeliveries, refused rows, replays, each ending with the invariant queries) share the
          // integration tests' stack and run in this project, one file at a time: they reset the
          // pipeline's topics, so they must never run beside each other.
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/faults/**/*.test.ts'],
          globalSetup: ['test/setup/stack.global.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
