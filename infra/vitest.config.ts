import { defineConfig } from 'vitest/config';

// `pnpm infra:check`: the deployment files' validations (*.test.ts, offline) and the image
// entrypoint's processes against the local Postgres and Redis (*.int.test.ts).
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
  },
});
