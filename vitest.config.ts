import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each file starts its own listeners and servers on free ports; files run in parallel forks.
    pool: 'forks',
    // Every temporary folder a test makes goes under one per-run folder, removed at the end.
    globalSetup: ['./test/helpers/run-tmpdir.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
