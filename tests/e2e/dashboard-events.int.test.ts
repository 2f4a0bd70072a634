import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DashboardFleet, startDashboardFleet } from './dashboard-harness.ts';

const LIVE = { timeout: 30_000, interval: 200 };

let fleet: DashboardFleet;
let page: Page;
beforeAll(async () => {
  fleet = await startDashboardFleet();
  page = await fleet.newPage();
}, 120_000);
afterAll(() => fleet?.close());

describe('the task page and the event stream', () => {
  it("follows the task's event stream with the operator's key, and shows the end it announces", async () => {
    // No worker serves reindex: the task waits until an operator resolves its step.
    const { task } = await fleet.client.createTask({ namespace: 'warehouse', name: 'reindex', context: {} });
    await page.goto(`${fleet.url}/ui/`);
    await page.getByText('Enter an API key').waitFor();
    await page.getByLabel('API key').fill(fleet.operatorKey);
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();
    const stream = page.waitForResponse((response) => response.url().endsWith(`/v1/tasks/${task.id}/events`));
    await page.goto(`${fleet.url}/ui/#/tasks/${task.id}`);
    const response = await stream;
    expect(response.status()).toBe(200);
    expect(response.headers()['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(await response.request().headerValue('authorization')).toBe(`Bearer ${fleet.operatorKey}`);

    await fleet.client.resolveStep(task.id, 'reindex', { reason: 'done by hand' });
    await expect.poll(() => page.getByTestId('task-status').textContent(), LIVE).toBe('complete');
    expect(fleet.pageErrors).toEqual([]);
  });
});
