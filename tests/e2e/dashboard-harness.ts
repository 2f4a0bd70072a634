/**
 * The dashboard against a real fleet: the dashboard built with vite, the API serving it at /ui,
 * a scheduler and a worker in this process on a database and Redis prefix of their own (the
 * worker also runs the registration example against its four services), and Debian's chromium
 * driven by playwright-core.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer } from '@switchyard/api';
import { createSwitchyardClient, type SwitchyardClient } from '@switchyard/client';
import { defineTemplate, type TaskTemplate } from '@switchyard/core';
import { buildDashboard } from '@switchyard/dashboard/build';
import { createApiKey, createPool } from '@switchyard/db';
import { registerTemplates, startScheduler, startWorker } from '@switchyard/engine';
import { startAllServices } from '@switchyard/example-user-registration/services';
import { defineStepHandler, PermanentError, RetryableError } from '@switchyard/handler-kit';
import { StepDispatcher } from '@switchyard/queue';
import { createTestDatabase, createTestRedis } from '@switchyard/testing';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { logger } from './harness.ts';
import { fastRegistrationTemplate } from './registration-harness.ts';

export const CHROMIUM = '/usr/bin/chromium';

/** The laptop screen the dashboard is made for. */
export const VIEWPORT = { width: 1366, height: 768 };

/** Registration-shaped: one step, two in parallel (billing on its own system), one joining them. */
export const signupTemplate: TaskTemplate = defineTemplate({
  namespace: 'accounts',
  name: 'signup',
  version: '1.0.0',
  description: 'Create the account, set up billing and preferences, then say welcome',
  default_dependent_system: 'accounts_service',
  identity_strategy: 'unique',
  context_schema: {
    type: 'object',
    required: ['email'],
    properties: { email: { type: 'string', format: 'email' }, password: { type: 'string' } },
  },
  steps: [
    { name: 'create_account', handler: 'ui_create_account' },
    {
      name: 'setup_billing',
      handler: 'ui_setup_billing',
      depends_on: ['create_account'],
      dependent_system: 'billing_service',
    },
    { name: 'set_preferences', handler: 'ui_set_preferences', depends_on: ['create_account'] },
    { name: 'send_welcome', handler: 'ui_send_welcome', depends_on: ['setup_billing', 'set_preferences'] },
  ],
});

/** A charge that fails permanently while the card is declined, then a receipt. */
export const chargeTemplate: TaskTemplate = defineTemplate({
  namespace: 'payments',
  name: 'charge',
  version: '1.0.0',
  identity_strategy: 'unique',
  default_dependent_system: 'payments_service',
  steps: [
    { name: 'charge_card', handler: 'ui_charge_card' },
    { name: 'send_receipt', handler: 'ui_send_receipt', depends_on: ['charge_card'] },
  ],
});

/** One step that runs until it is aborted: something to cancel. */
export const exportTemplate: TaskTemplate = defineTemplate({
  namespace: 'payments',
  name: 'long_export',
  version: '1.0.0',
  identity_strategy: 'unique',
  default_dependent_system: 'warehouse',
  steps: [{ name: 'export_rows', handler: 'ui_export_rows', timeout_ms: 60_000 }],
});

/** A step type no worker of the fleet serves: its jobs stay queued. */
export const reindexTemplate: TaskTemplate = defineTemplate({
  namespace: 'warehouse',
  name: 'reindex',
  version: '1.0.0',
  identity_strategy: 'unique',
  default_dependent_system: 'warehouse',
  steps: [{ name: 'reindex', handler: 'ui_reindex' }],
});

/** Switches the fixture services' behaviour from the test. */
export const services = { cardDeclined: true, billingDown: false };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const handlers = [
  defineStepHandler('ui_create_account', async (ctx) => {
    await sleep(150);
    return { user_id: `u-${ctx.task.id.slice(0, 8)}`, session_token: 'issued-token' };
  }),
  defineStepHandler('ui_setup_billing', async () => {
    await sleep(100);
    if (services.billingDown) throw new RetryableError('billing answered 503', { httpStatus: 503 });
    return { billing_profile: 'bp-1' };
  }),
  defineStepHandler('ui_set_preferences', async () => {
    await sleep(80);
    return { theme: 'light' };
  }),
  defineStepHandler('ui_send_welcome', async () => {
    await sleep(60);
    return { sent: true };
  }),
  defineStepHandler('ui_charge_card', async () => {
    if (services.cardDeclined) {
      throw new PermanentError('card declined by the issuer', {
        errorCode: 'CARD_DECLINED',
        httpStatus: 402,
      });
    }
    return { charge_id: 'ch_1' };
  }),
  defineStepHandler('ui_send_receipt', async () => ({ receipt: 'r-1' })),
  defineStepHandler('ui_export_rows', async (ctx) => {
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    throw ctx.signal.reason ?? new Error('aborted');
  }),
];

export type DashboardFleet = {
  /** Base URL of the API; the dashboard is at `${url}/ui/`. */
  url: string;
  /** A key with tasks:read, tasks:write and operate, as an operator would use. */
  operatorKey: string;
  client: SwitchyardClient;
  /** Chromium with a fresh profile of its own. */
  browser: BrowserContext;
  /** A fresh page at 1366x768; its script errors land in `pageErrors`. */
  newPage(): Promise<Page>;
  /** Uncaught errors of the dashboard's scripts in any page: a passing run has none. */
  pageErrors: Error[];
  /** The example's registration template (its plan decision included), run against its four services. */
  registration: { namespace: string; name: string; version: string };
  close(): Promise<void>;
};

export async function startDashboardFleet(): Promise<DashboardFleet> {
  const dashboardDir = await buildDashboard(await mkdtemp(join(tmpdir(), 'switchyard-ui-build-')));
  const database = await createTestDatabase();
  const testRedis = createTestRedis();
  const pool = createPool(database.url, { max: 10 });
  const redis = testRedis.connection();
  const dispatcher = new StepDispatcher({ connection: redis, prefix: testRedis.prefix });
  const common = { pool, redis, queuePrefix: testRedis.prefix, logger };
  // The registration handlers read the services' URLs from the environment when first imported.
  const registrationServices = await startAllServices({ basePort: 0 });
  Object.assign(process.env, registrationServices.env);
  const { userRegistrationHandlers } = await import('@switchyard/example-user-registration/handlers');
  const registration = fastRegistrationTemplate();
  await registerTemplates(pool, [
    signupTemplate,
    chargeTemplate,
    exportTemplate,
    reindexTemplate,
    registration,
  ]);
  const scheduler = await startScheduler({
    ...common,
    databaseUrl: database.url,
    intervalMs: 200,
    dispatchGraceMs: 500,
    // Billing trips after 3 failures in a row and stays open for the test's length.
    breakerPolicies: { billing_service: { consecutive_failures: 3, min_calls: 1_000, open_ms: 120_000 } },
  });
  const worker = await startWorker({
    ...common,
    handlers: [...handlers, ...userRegistrationHandlers],
    concurrency: 4,
    heartbeatMs: 1_000,
  });
  const app = await buildServer(
    { pool, redis, dispatcher, queuePrefix: testRedis.prefix, logger },
    { authDisabled: false, bodyLimit: 1024 * 1024, metricsRequireKey: false, dashboardDir },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const { key: operatorKey } = await createApiKey(pool, {
    name: 'dashboard-operator',
    scopes: ['tasks:read', 'tasks:write', 'operate'],
    namespaces: [],
    createdBy: 'test',
  });
  const { browser, profile } = await launchChromium();
  const pageErrors: Error[] = [];
  return {
    url,
    operatorKey,
    pageErrors,
    registration: {
      namespace: registration.namespace,
      name: registration.name,
      version: registration.version,
    },
    client: createSwitchyardClient({ baseUrl: url, apiKey: operatorKey }),
    browser,
    async newPage() {
      const page = await browser.newPage();
      page.on('pageerror', (err) => pageErrors.push(err));
      return page;
    },
    async close() {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
      await rm(dashboardDir, { recursive: true, force: true });
      await app.close();
      await worker.stop(0);
      await scheduler.stop();
      await dispatcher.close();
      await pool.end();
      await registrationServices.close();
      await testRedis.cleanup();
      await database.drop();
    },
  };
}

/** Debian's chromium, headless, with a fresh profile (removed again if the launch fails). */
async function launchChromium(): Promise<{ browser: BrowserContext; profile: string }> {
  const profile = await mkdtemp(join(tmpdir(), 'switchyard-chromium-'));
  try {
    // A persistent context is how playwright takes a user data dir.
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: VIEWPORT,
      // Without the networking flags chromium waits on services it cannot reach offline.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    return { browser, profile };
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw new Error(`chromium did not start from ${CHROMIUM} (apt-get install chromium)`, { cause: err });
  }
}
