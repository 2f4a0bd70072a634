import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DashboardFleet, services, startDashboardFleet } from './dashboard-harness.ts';

// The dashboard in a real browser against a real fleet. Every page is saved as a screenshot:
// by default under tests/e2e/artifacts/screenshots (gitignored), so a run leaves the work tree
// clean; with UPDATE_SCREENSHOTS=1 under docs/screenshots, the ones the README shows, which is
// how those are regenerated after a change to the dashboard's look.
const SCREENSHOTS = fileURLToPath(
  new URL(
    process.env.UPDATE_SCREENSHOTS === '1' ? '../../docs/screenshots/' : './artifacts/screenshots/',
    import.meta.url,
  ),
);
const LIVE = { timeout: 30_000, interval: 200 };

let fleet: DashboardFleet;
let page: Page;
const signupIds: string[] = [];
/** A pro registration: its plan decision chose nothing and provision_sso was skipped. */
let decidedId = '';
/** What the browser refused under the API's Content-Security-Policy: a passing run has none. */
const cspViolations: string[] = [];

beforeAll(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  fleet = await startDashboardFleet();
  page = await fleet.newPage();
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) cspViolations.push(message.text());
  });
}, 120_000);
afterAll(() => fleet?.close());

const screenshot = (name: string) => page.screenshot({ path: `${SCREENSHOTS}${name}.png` });
const open = (hash: string) => page.goto(`${fleet.url}/ui/${hash}`);
const text = (selector: string) => page.locator(selector).first().textContent();
const taskStatus = () => page.getByTestId('task-status').textContent();

/** Confirms the open dialog with `button`, typing `reason` first. */
async function confirmDialog(button: string, reason?: string) {
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  if (reason) await dialog.getByLabel(/Reason/).fill(reason);
  await dialog.getByRole('button', { name: button, exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
}

describe('dashboard', () => {
  it('asks for an API key, then shows new tasks completing live, with counts and filters', async () => {
    await open('');
    await page.getByText('Enter an API key').waitFor();
    await page.getByLabel('API key').fill(fleet.operatorKey);
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();

    // Created after the page loaded: the list and the counts must pick them up by themselves.
    for (let i = 0; i < 6; i++) {
      const { task } = await fleet.client.createTask({
        namespace: 'accounts',
        name: 'signup',
        context: { email: `user${i}@example.com`, password: 'hunter2' },
        correlationId: `signup-${i}`,
      });
      signupIds.push(task.id);
    }
    await expect.poll(() => page.locator('tr[data-task-id]').count(), LIVE).toBe(6);
    await expect.poll(() => text('[data-testid="count-complete"]'), LIVE).toBe('complete: 6');
    expect(await text('[data-testid="count-total"]')).toBe('6 tasks');
    await expect
      .poll(() => page.locator('tr[data-task-id] .badge').allTextContents(), LIVE)
      .toEqual(Array(6).fill('complete'));
    await screenshot('tasks');

    await page.getByLabel('Correlation id').fill('signup-3');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect
      .poll(
        () => page.locator('tr[data-task-id]').evaluateAll((rows) => rows.map((row) => row.dataset.taskId)),
        LIVE,
      )
      .toEqual([signupIds[3]]);
    await expect.poll(() => text('[data-testid="count-total"]'), LIVE).toBe('1 task');
    await page.getByRole('button', { name: 'Clear' }).click();
    await expect.poll(() => page.locator('tr[data-task-id]').count(), LIVE).toBe(6);
  });

  it("opens a task: its DAG with each step's state, the attempts, the context with secrets redacted", async () => {
    await page.getByRole('link', { name: `Task ${signupIds[0]}` }).click();
    await page.getByRole('heading', { name: /^Task / }).waitFor();
    const dagNodes = () =>
      page
        .locator('svg.dag g[data-step]')
        .evaluateAll((nodes) =>
          nodes.map((node) => `${node.getAttribute('data-step')}=${node.getAttribute('data-status')}`).sort(),
        );
    await expect
      .poll(dagNodes, LIVE)
      .toEqual([
        'create_account=complete',
        'send_welcome=complete',
        'set_preferences=complete',
        'setup_billing=complete',
      ]);
    await expect.poll(() => page.locator('[data-testid="attempt-history"] tbody tr').count(), LIVE).toBe(4);
    expect(await page.locator('.timeline-row').count()).toBe(4);
    const context = await page.getByRole('region', { name: 'Task context' }).textContent();
    expect(context).toContain('user0@example.com');
    expect(context).toContain('[redacted]');
    expect(context).not.toContain('hunter2');

    // Each step of the DAG is a control of its own: Tab reaches it from the header's last link,
    // it names the step and its state, and Enter or Space shows that step's row in the table.
    const focused = () =>
      page.evaluate(() => {
        const element = document.activeElement;
        return {
          label: element?.getAttribute('aria-label') ?? null,
          role: element?.getAttribute('role') ?? null,
          inDag: Boolean(element?.closest('svg.dag')),
          row: element?.closest('tr')?.getAttribute('data-step') ?? null,
        };
      });
    const currentRows = () =>
      page
        .locator('tr[data-step][aria-current="true"]')
        .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-step')));
    await page.getByRole('link', { name: /^accounts\/signup@/ }).focus();
    await page.keyboard.press('Tab');
    expect(await focused()).toEqual({
      label: 'create_account: complete',
      role: 'button',
      inDag: true,
      row: null,
    });
    // The two steps after it share a column; Tab goes down it, in whichever order they are drawn.
    for (let i = 0; i < 2 && (await focused()).label !== 'setup_billing: complete'; i++) {
      await page.keyboard.press('Tab');
      expect(await focused()).toMatchObject({ role: 'button', inDag: true });
    }
    expect((await focused()).label).toBe('setup_billing: complete');
    expect(await page.evaluate(() => document.activeElement?.matches(':focus-visible'))).toBe(true);
    expect(
      await page
        .locator('svg.dag g[data-step="setup_billing"] .dag-focus-ring')
        .evaluate((ring) => getComputedStyle(ring).strokeOpacity),
    ).toBe('1');
    await screenshot('task');
    await page.keyboard.press('Enter');
    expect(await currentRows()).toEqual(['setup_billing']);
    expect(await focused()).toMatchObject({ row: 'setup_billing', inDag: false });
    // Back to the DAG's last step, and Space does the same.
    await page.getByRole('link', { name: /^accounts\/signup@/ }).focus();
    for (let i = 0; i < 4 && (await focused()).label !== 'send_welcome: complete'; i++) {
      await page.keyboard.press('Tab');
    }
    expect(await focused()).toMatchObject({ label: 'send_welcome: complete', inDag: true });
    await page.keyboard.press('Space');
    expect(await currentRows()).toEqual(['send_welcome']);
    expect((await focused()).row).toBe('send_welcome');
    // A click does what the keys do.
    await page.locator('svg.dag g[data-step="set_preferences"]').click();
    expect(await currentRows()).toEqual(['set_preferences']);
  });

  it("shows a registration's plan decision: what it chose, and provision_sso skipped as not run", async () => {
    const { task } = await fleet.client.createTask({
      ...fleet.registration,
      context: { email: 'pro@example.com', name: 'Pro', plan: 'pro', payment_method: 'pm_1' },
    });
    decidedId = task.id;
    expect((await fleet.client.waitForTask(task.id, { timeoutMs: 30_000 })).status).toBe('complete');
    await open(`#/tasks/${task.id}`);
    await page.getByRole('heading', { name: /^Task / }).waitFor();
    const box = (step: string) => page.locator(`svg.dag g[data-step="${step}"]`);
    await expect.poll(() => box('provision_sso').getAttribute('data-status'), LIVE).toBe('skipped');
    expect(await box('provision_sso').locator('.dag-status').textContent()).toBe('skipped · not run');
    expect(await box('provision_sso').getAttribute('aria-label')).toBe('provision_sso: skipped');
    expect(await box('choose_plan_features').locator('.dag-status').textContent()).toBe(
      'complete · chose none',
    );
    // The deferred join ran without the skipped step.
    expect(await box('update_user_status').getAttribute('data-status')).toBe('complete');
    expect(await text('tr[data-step="provision_sso"] .badge')).toBe('skipped');
  });

  it('retries a failed step from the UI, after confirming, and the task completes', async () => {
    services.cardDeclined = true;
    const { task } = await fleet.client.createTask({
      namespace: 'payments',
      name: 'charge',
      context: { order: 1 },
    });
    await fleet.client.waitForTask(task.id, { timeoutMs: 20_000 });
    await open(`#/tasks/${task.id}`);
    await expect.poll(taskStatus, LIVE).toBe('error');
    const attempt = await page.locator('[data-testid="attempt-history"] tbody tr').first().textContent();
    expect(attempt).toContain('permanent error');
    expect(attempt).toContain('CARD_DECLINED');
    expect(attempt).toContain('402');
    await screenshot('task-failed');

    services.cardDeclined = false;
    await page.getByRole('button', { name: 'Retry charge_card…' }).click();
    await confirmDialog('Retry step', 'card updated by the customer');
    await expect.poll(taskStatus, LIVE).toBe('complete');
    const transitions = await fleet.client.getTransitions(task.id);
    expect(transitions.some((t) => t.reason?.includes('card updated by the customer'))).toBe(true);
  });

  it('resolves a failed step by hand with results from the UI, and its dependents run', async () => {
    services.cardDeclined = true;
    const { task } = await fleet.client.createTask({
      namespace: 'payments',
      name: 'charge',
      context: { order: 2 },
    });
    await fleet.client.waitForTask(task.id, { timeoutMs: 20_000 });
    await open(`#/tasks/${task.id}`);
    await expect.poll(taskStatus, LIVE).toBe('error');

    await page.getByRole('button', { name: 'Resolve charge_card…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel(/Results/).fill('{"charge_id": "paid by bank transfer"}');
    await confirmDialog('Resolve step', 'customer paid by bank transfer');
    await expect.poll(taskStatus, LIVE).toBe('complete');
    expect(await text('tr[data-step="charge_card"] .badge')).toBe('resolved manually');
    const resolved = await fleet.client.getTask(task.id);
    expect(resolved.steps.find((step) => step.name === 'charge_card')?.results).toEqual({
      charge_id: 'paid by bank transfer',
    });
    services.cardDeclined = false;
  });

  it('cancels a running task from the UI only once the dialog is confirmed', async () => {
    const { task } = await fleet.client.createTask({
      namespace: 'payments',
      name: 'long_export',
      context: {},
    });
    await open(`#/tasks/${task.id}`);
    await expect.poll(taskStatus, LIVE).toBe('in progress');

    await page.getByRole('button', { name: 'Cancel task…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel', exact: true }).click();
    expect((await fleet.client.getTask(task.id)).status).toBe('in_progress');

    await page.getByRole('button', { name: 'Cancel task…' }).click();
    await confirmDialog('Cancel task', 'export no longer needed');
    await expect.poll(taskStatus, LIVE).toBe('cancelled');
    expect((await fleet.client.getTask(task.id)).status).toBe('cancelled');
  });

  it('shows a breaker tripped by failures with its evidence, and forces it open and closed', async () => {
    services.billingDown = true;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { task } = await fleet.client.createTask({
        namespace: 'accounts',
        name: 'signup',
        context: { email: `outage${i}@example.com` },
      });
      ids.push(task.id);
    }
    await open('#/breakers/billing_service');
    await page.getByRole('heading', { name: 'billing_service' }).waitFor();
    // Three failures in a row trip it; the steps of billing then wait, held, instead of calling it.
    await expect.poll(() => text('[data-testid="breaker-state-billing_service"]'), LIVE).toBe('open');
    const trip = page.locator('[data-testid="breaker-transitions"] tbody tr').first();
    await expect.poll(() => trip.textContent(), LIVE).toContain('3 consecutive failures');
    await trip.getByText('Evidence').click();
    const evidence = await trip.getByRole('region').textContent();
    expect(JSON.parse(evidence ?? '{}')).toMatchObject({
      consecutiveFailures: 3,
      attempts: expect.any(Array),
    });
    await expect.poll(() => page.locator('a[aria-label^="Task "]').count(), LIVE).toBeGreaterThan(0);

    await page.getByRole('button', { name: 'Force open…' }).click();
    await confirmDialog('Force open', 'billing maintenance window');
    await expect
      .poll(() => text('[data-testid="breaker-state-billing_service"]'), LIVE)
      .toBe('open (forced open)');
    await expect
      .poll(() => text('[data-testid="breaker-transitions"] tbody tr'), LIVE)
      .toContain('open by operator: billing maintenance window');
    await screenshot('breakers');

    services.billingDown = false;
    await page.getByRole('button', { name: 'Force close…' }).click();
    await confirmDialog('Force close', 'billing is back');
    await expect
      .poll(() => text('[data-testid="breaker-state-billing_service"]'), LIVE)
      .toBe('closed (forced closed)');
    for (const id of ids)
      expect((await fleet.client.waitForTask(id, { timeoutMs: 30_000 })).status).toBe('complete');
  });

  it('overrides a limit from the limits panel with a reason, shows the API refusing a bad one, and resets it', async () => {
    await open('#/breakers/billing_service');
    const form = page.getByRole('form', { name: 'Override a limit' });
    await form.waitFor();
    const fill = async (fields: Record<string, string>) => {
      for (const [label, value] of Object.entries(fields)) await form.getByLabel(label).fill(value);
    };
    const alert = form.locator('xpath=..').getByRole('alert');

    // The API judges the values: its problem names the field and the rule.
    await fill({ 'Dependent system': 'payments_service', 'Max concurrent': '', Burst: '3' });
    await fill({ 'Reason (required, audited)': 'try a burst alone' });
    await form.getByRole('button', { name: 'Set override' }).click();
    await expect.poll(() => alert.textContent(), LIVE).toContain('/burst: burst needs a rate');
    await fill({ 'Dependent system': 'paymnets_service', Burst: '', 'Max concurrent': '2' });
    await form.getByRole('button', { name: 'Set override' }).click();
    await expect.poll(() => alert.textContent(), LIVE).toContain('paymnets_service');

    await fill({ 'Dependent system': 'payments_service', 'Max concurrent': '2' });
    await fill({ 'Reason (required, audited)': 'payments asked for two at a time' });
    await form.getByRole('button', { name: 'Set override' }).click();
    await expect
      .poll(() => text('[data-testid="limit-override-status"]'), LIVE)
      .toBe('Override set. In force: payments_service: max concurrent 2, rate -');
    await expect.poll(() => text('[data-testid="limit-in-flight-payments_service"]'), LIVE).toBe('0 of 2');
    expect(await alert.count()).toBe(0);
    const set = await fleet.client.getLimit('payments_service');
    expect(set.limit.limit).toEqual({ maxConcurrent: 2, rate: null, burst: null });
    expect(set.changes[0]).toMatchObject({
      source: 'operator',
      reason: 'override by operator: payments asked for two at a time',
      actor: expect.stringMatching(/^key:/),
    });
    await screenshot('limits');

    await fill({ 'Reason (required, audited)': 'back to the configuration' });
    await form.getByRole('button', { name: 'Reset to configured' }).click();
    await expect
      .poll(() => text('[data-testid="limit-override-status"]'), LIVE)
      .toBe('Override removed. In force: payments_service: max concurrent -, rate -');
    await expect.poll(() => text('[data-testid="limit-in-flight-payments_service"]'), LIVE).toBe('0');
    const reset = await fleet.client.getLimit('payments_service');
    expect(reset.limit.override).toBeNull();
    expect(reset.changes[0]!.reason).toBe('override removed by operator: back to the configuration');
  });

  it('shows a template with its DAG and context schema, and the queues with their workers', async () => {
    await open('#/templates/accounts/signup');
    await page.getByRole('heading', { name: 'accounts/signup' }).waitFor();
    await expect.poll(() => page.locator('svg.dag g[data-step]').count(), LIVE).toBe(4);
    expect(await page.getByRole('region', { name: 'Context schema' }).textContent()).toContain('"email"');
    await screenshot('templates');

    for (let i = 0; i < 3; i++) {
      await fleet.client.createTask({ namespace: 'warehouse', name: 'reindex', context: { shard: i } });
    }
    await open('#/queues');
    const served = page.locator('tr[data-step-type="ui_create_account"]');
    await served.waitFor();
    expect(await served.textContent()).toContain('4 slots');
    // No worker serves reindexing: its jobs wait, and the page says nobody consumes them.
    await expect.poll(() => text('[data-testid="depth-ui_reindex"]'), LIVE).toBe('3');
    expect(await text('tr[data-step-type="ui_reindex"] td:last-child')).toBe('none');
    await screenshot('queues');
  });

  it('pages through the tasks on the server, 25 at a time, without repeating one', async () => {
    for (let i = 0; i < 20; i++) {
      await fleet.client.createTask({ namespace: 'warehouse', name: 'reindex', context: { batch: i } });
    }
    const { total } = await fleet.client.countTasks();
    expect(total).toBeGreaterThan(25);
    await open('#/tasks');
    const rowIds = () =>
      page
        .locator('tr[data-task-id]')
        .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-task-id')));
    await expect.poll(() => text('[data-testid="count-total"]'), LIVE).toBe(`${total} tasks`);
    await expect.poll(async () => (await rowIds()).length, LIVE).toBe(25);
    const first = await rowIds();
    await page.getByRole('button', { name: 'Older →' }).click();
    await expect.poll(async () => (await rowIds()).length, LIVE).toBe(total - 25);
    const second = await rowIds();
    expect(second.filter((id) => first.includes(id))).toEqual([]);
    expect(await page.getByRole('button', { name: 'Older →' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: '← Newer' }).click();
    await expect.poll(rowIds, LIVE).toEqual(first);
  });

  it('is usable from the keyboard, with every control labelled and all text in contrast', async () => {
    // A fresh load, so focus starts at the top of the document.
    await page.goto('about:blank');
    await open('#/tasks');
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    // Tab through the navigation to Breakers and follow it with Enter.
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate(() => document.activeElement?.textContent)) === 'Breakers') break;
    }
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Circuit breakers' }).waitFor();
    // Focus moves to the new page's content, and the window title names it.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    expect(await page.title()).toBe('Breakers · Switchyard');

    for (const hash of [
      '#/tasks',
      `#/tasks/${signupIds[0]}`,
      // A task with a skipped step: its badge in the steps table is checked too.
      `#/tasks/${decidedId}`,
      '#/breakers/billing_service',
      '#/templates',
      '#/queues',
    ]) {
      await open(hash);
      await page.locator('main h1').waitFor();
      // A task page's DAG comes with its data: check its boxes, not the loading text.
      if (hash.startsWith('#/tasks/')) await page.locator('svg.dag g[data-step]').first().waitFor();
      const unlabelled = await page.evaluate(() =>
        [...document.querySelectorAll('input, select, textarea, button')]
          .filter((element) => {
            const labelled =
              (element as HTMLInputElement).labels?.length || element.getAttribute('aria-label');
            return !labelled && !element.textContent?.trim();
          })
          .map((element) => element.outerHTML),
      );
      expect(unlabelled, hash).toEqual([]);
      expect(await lowContrastText(), hash).toEqual([]);
    }
    expect(fleet.pageErrors).toEqual([]);
  });

  it('shows a not-found page for an address that does not decode, and runs within its CSP', async () => {
    await open('#/tasks/%E0%A4%A');
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();
    expect(await page.title()).toBe('Not found · Switchyard');
    await page.getByRole('link', { name: 'task list' }).click();
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();
    expect(fleet.pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  });
});

/**
 * Text on the page whose contrast with its background is under WCAG AA's 4.5:1, as
 * "text (ratio)". The background is the nearest ancestor's opaque one; all of ours are opaque.
 */
function lowContrastText(): Promise<string[]> {
  return page.evaluate(() => {
    const rgb = (css: string) => (css.match(/[\d.]+/g) ?? []).map(Number);
    const luminance = ([r = 0, g = 0, b = 0]: number[]) => {
      const channel = (c: number) => {
        const v = c / 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const background = (element: Element | null): number[] => {
      for (let e = element; e; e = e.parentElement) {
        const [r, g, b, a = 1] = rgb(getComputedStyle(e).backgroundColor);
        if (a > 0.5) return [r ?? 255, g ?? 255, b ?? 255];
      }
      return [255, 255, 255];
    };
    const found: string[] = [];
    for (const element of document.querySelectorAll('body *')) {
      const ownText = [...element.childNodes].some((node) => node.nodeType === 3 && node.textContent?.trim());
      if (!ownText || (element as HTMLElement).offsetParent === null) continue;
      const fg = luminance(rgb(getComputedStyle(element).color));
      const bg = luminance(background(element));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      if (ratio < 4.5) found.push(`${element.textContent?.trim().slice(0, 40)} (${ratio.toFixed(2)})`);
    }
    return found;
  });
}
