/**
 * The four services of the user-registration example, as real HTTP servers:
 * `startService('billing', { port: 0 })` for one, {@link startAllServices} for the set.
 */
import { billingService } from './billing.ts';
import { type RunningService, type ServeOptions, type ServiceDefinition, serve } from './kit.ts';
import { type NotificationOptions, notificationService } from './notification.ts';
import { preferencesService } from './preferences.ts';
import { userService } from './user.ts';

export type {
  EndpointCounters,
  FaultPatch,
  FaultSettings,
  RunningService,
  ServeOptions,
  ServiceAdmin,
  ServiceCounters,
} from './kit.ts';
export { PLAN_DEFAULTS } from './preferences.ts';

/** Which service. */
export type ServiceKind = 'user' | 'billing' | 'preferences' | 'notification';

/** In the template's port order: user 7101, billing 7102, preferences 7103, notification 7104. */
export const SERVICE_KINDS: readonly ServiceKind[] = ['user', 'billing', 'preferences', 'notification'];

/** The environment variable that points the handlers at each service. */
export const SERVICE_URL_ENV: Readonly<Record<ServiceKind, string>> = {
  user: 'USER_SERVICE_URL',
  billing: 'BILLING_SERVICE_URL',
  preferences: 'PREFERENCES_SERVICE_URL',
  notification: 'NOTIFICATION_SERVICE_URL',
};

/** Where to listen (port 0: any free port) plus the notification service's rate limit. */
export type StartServiceOptions = ServeOptions & NotificationOptions;

function definitionOf(kind: ServiceKind, options: StartServiceOptions): ServiceDefinition {
  if (kind === 'user') return userService();
  if (kind === 'billing') return billingService();
  if (kind === 'preferences') return preferencesService();
  return notificationService(options);
}

/** Starts one service; resolves once it listens. */
export function startService(kind: ServiceKind, options: StartServiceOptions = {}): Promise<RunningService> {
  return serve(definitionOf(kind, options), options);
}

/** The four running services. */
export type AllServices = Record<ServiceKind, RunningService> & {
  /** `{ USER_SERVICE_URL: 'http://127.0.0.1:7101', ... }`: hand it to the handlers as their env. */
  env: Record<string, string>;
  close(): Promise<void>;
};

/**
 * Starts all four services on `basePort` .. `basePort + 3` (default 7101, the template's ports);
 * `basePort: 0` gives each a free port. If one fails to start, the others are closed again.
 */
export async function startAllServices(
  options: Omit<StartServiceOptions, 'port'> & { basePort?: number } = {},
): Promise<AllServices> {
  const { basePort = 7101, ...rest } = options;
  const started: RunningService[] = [];
  const closeAll = () => Promise.all(started.map((service) => service.close())).then(() => {});
  try {
    for (const [offset, kind] of SERVICE_KINDS.entries()) {
      started.push(await startService(kind, { ...rest, port: basePort === 0 ? 0 : basePort + offset }));
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  const [user, billing, preferences, notification] = started as [RunningService, ...RunningService[]];
  const byKind = { user, billing, preferences, notification } as Record<ServiceKind, RunningService>;
  const env = Object.fromEntries(SERVICE_KINDS.map((kind) => [SERVICE_URL_ENV[kind], byKind[kind].url]));
  return { ...byKind, env, close: closeAll };
}
