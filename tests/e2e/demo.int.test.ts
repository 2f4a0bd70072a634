import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `pnpm demo --json` end to end: a fleet of processes, billing down partway, then ten times
// slower under its limit, the plan decision provisioning SSO for the enterprise registrations
// only, and the demo's own webhook receiver verifying the task.completed deliveries.
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
  it('completes every registration through the billing outage and the slowdown, provisions SSO for the enterprise ones only, and its receiver gets a verified task.completed for each', async () => {
    const { code, stdout, stderr } = await runDemo(20);
    expect({ code, stderr: code === 0 ? '' : stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
    const summary = JSON.parse(stdout);
    // 20 through the outage, 20 more through the slowdown.
    expect(summary).toMatchObject({ total: 40, completed: 40, failed: 0 });
    expect(summary.breakerTransitions.map((t: { to: string }) => t.to)).toContain('open');
    expect(summary.webhooks).toEqual({ received: 40, verified: 40, missing: 0 });
    const { slowdown } = summary;
    console.log(`[measure] demo slowdown phase: ${JSON.stringify(slowdown)}`);
    expect(slowdown).toMatchObject({ registrations: 20, completed: 20, factor: 10 });
    // The adaptive limit kept billing's own count of calls in flight within it (16 billing slots
    // in the fleet), so no call waited inside billing long enough to time out; every change it
    // made in the phase stayed within billing's bounds (2..16) and chains from the one before.
    expect(slowdown.billingCalls).toBeGreaterThan(0);
    expect(slowdown.billingMaxInFlight).toBeGreaterThan(0);
    const path: number[] = [slowdown.limitAtStart, ...slowdown.limitChanges.map((c: { to: number }) => c.to)];
    expect(slowdown.billingMaxInFlight).toBeLessThanOrEqual(Math.max(...path));
    for (const limit of path) expect(limit).toBeGreaterThanOrEqual(2);
    for (const limit of path) expect(limit).toBeLessThanOrEqual(16);
    expect(slowdown.limitChanges.map((c: { from: number }) => c.from)).toEqual(path.slice(0, -1));
    expect(slowdown.billingTimeouts).toBeLessThanOrEqual(1);
    // What the demo asked for, from the registrations it created: SSO for each enterprise one.
    const { rows } = await database.pool.query(
      `SELECT count(*) FILTER (WHERE context->>'plan' = 'enterprise')::int AS enterprise, count(*)::int AS total
         FROM tasks`,
    );
    expect(rows[0].total).toBe(40);
    expect(rows[0].enterprise).toBeGreaterThan(0);
    expect(summary.decisions).toEqual({
      provisioned_sso: rows[0].enterprise,
      skipped: 40 - rows[0].enterprise,
    });
  }, 240_000);
});
