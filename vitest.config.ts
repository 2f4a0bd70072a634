import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs nothing running; `integration` talks to the real Postgres and
// Redis named by TEST_DATABASE_URL / TEST_REDIS_URL (each test file makes its own database and prefix).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          // Beside the code, and beside test-only code kept out of the published src (test/).
          include: ['{packages,apps,examples}/*/{src,test}/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['{packages,apps,examples}/*/{src,test}/**/*.int.test.ts', 'tests/**/*.int.test.ts'],
          exclude: ['**/node_modules/**'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Each file creates its own database; running files in parallel is safe, but the
          // machine has 2 cores, so keep the fan-out small.
          maxWorkers: 2,
          // Projects with different worker limits must run in separate groups.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
