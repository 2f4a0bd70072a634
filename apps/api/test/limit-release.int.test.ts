import { createSwitchyardClient } from '@switchyard/client';
import { configureServiceLimits } from '@switchyard/db';
import { defineStepHandler } from '@switchyard/handler-kit';
import { waitFor } from '@switchyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiTemplate, createApiHarness } from './harness.ts';

// No scheduler runs here, and the handlers below never finish while the test looks: an operator's
// change is the only thing that can release a waiting step.
let h: ApiHarness;
let running = 0;
let finish: () => void = () => {};
const finished = new Promise<void>((resolve) => {
  finish = resolve;
});
const template = apiTemplate({
  default_dependent_system: 'ledger_service',
  steps: [{ name: 'post', handler: 'release_post' }],
});

beforeAll(async () => {
  h = await createApiHarness();
  await h.register([template]);
  await configureServiceLimits(
    h.pool,
    { ledger_service: { maxConcurrent: 2, rate: null, burst: null } },
    'test',
  );
  await h.startWorker([
    defineStepHandler('release_post', async () => {
      running += 1;
      await finished;
      return { posted: true };
    }),
  ]);
});
afterAll(async () => {
  finish();
  await h.close();
});

const held = async () =>
  (
    await h.pool.query(
      `SELECT count(*)::int AS n FROM workflow_steps WHERE status = 'held' AND hold_reason = 'concurrency'`,
    )
  ).rows[0].n as number;

describe('an operator raising a limit', () => {
  it('starts the waiting steps the new limit admits at once, not at the next sweep', async () => {
    const key = await h.key(['operate', 'tasks:read', 'tasks:write']);
    const client = createSwitchyardClient({ baseUrl: h.url, apiKey: key });
    for (let i = 0; i < 5; i += 1) {
      await client.createTask({ namespace: 'shop', name: template.name, version: '1.0.0', context: { i } });
    }
    await waitFor('2 running and 3 held', async () => running === 2 && (await held()) === 3);

    const raised = await client.overrideLimit('ledger_service', {
      maxConcurrent: 4,
      reason: 'ledger scaled up',
    });
    // The answer already counts the released steps: two promised to the freed slots, one still waiting.
    expect(raised.limit.maxConcurrent).toBe(4);
    expect(raised.waiting.concurrency).toBe(1);
    await waitFor('the two released steps running', () => running === 4);
    expect(await held()).toBe(1);

    const reset = await client.resetLimit('ledger_service', 'back to the configuration');
    expect(reset.limit.maxConcurrent).toBe(2);
    expect(await held()).toBe(1);

    // Waiting used no attempt: only the four steps that started have one.
    const attempts = await h.pool.query('SELECT sum(attempts)::int AS n FROM workflow_steps');
    expect(attempts.rows[0].n).toBe(4);
  });
});
