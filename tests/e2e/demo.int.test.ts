import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `pnpm demo --json` end to end: a fleet of processes, billing down partway, the plan decision
// provisioning SSO for the enterprise registrations only, and the demo's own webhook receiver
// verifying the task.completed deliveries.
let database: TestDatabase;
let redis: TestRedis;
beforeAll(async () => {
  database = await createTestDatabase();
  redis = createTestRedis();
});
afterAll(async () => {
  // The demo's queues live under `<prefix>-demo-<run>`, beside the test prefix's own keys.
  const connection = redis.connection();
  const keys = await connection.keys(`${redis.prefix}*`);
  if (keys.length > 0) await connection.del(...keys);
  await redis.cleanup();
  await database.drop();
});

function runDemo(count: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/demo/main.ts', '--count', String(count), '--json'],
    {
      cwd: fileURLToPath(new URL('../../examples/user-registration/', import.meta.url)),
      env: {
        ...process.env,
        DATABASE_URL: database.url,
        REDIS_URL: redis.url,
        SWITCHYARD_QUEUE_PREFIX: redis.prefix,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('the demo', () => {
  it('completes every registration through the billing outage, provisions SSO for the enterprise ones only, and its receiver gets a verified task.completed for each', async () => {
    const { code, stdout, stderr } = await runDemo(20);
    expect({ code, stderr: code === 0 ? '' : stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({ total: 20, completed: 20, failed: 0 });
    expect(summary.breakerTransitions.map((t: { to: string }) => t.to)).toContain('open');
    expect(summary.webhooks).toEqual({ received: 20, verified: 20, missing: 0 });
    // What the demo asked for, from the registrations it created: SSO for each enterprise one.
    const { rows } = await database.pool.query(
      `SELECT count(*) FILTER (WHERE context->>'plan' = 'enterprise')::int AS enterprise, count(*)::int AS total
         FROM tasks`,
    );
    expect(rows[0].total).toBe(20);
    expect(rows[0].enterprise).toBeGreaterThan(0);
    expect(summary.decisions).toEqual({
      provisioned_sso: rows[0].enterprise,
      skipped: 20 - rows[0].enterprise,
    });
  }, 240_000);
});
