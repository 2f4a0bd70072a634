/** The typed client's bulkhead calls (see createSwitchyardClient). */
import {
  type LimitOverrideBody,
  type ServiceLimit,
  type ServiceLimitDetail,
  ServiceLimitDetailSchema,
  ServiceLimitListSchema,
  ServiceLimitSchema,
} from './limit-contract.ts';
import type { Send } from './transport.ts';

export function limitCalls(send: Send) {
  const path = (system: string) => `/v1/limits/${encodeURIComponent(system)}`;
  return {
    /** Every limited system: its limit in force, calls in flight, steps waiting. */
    listLimits: async (): Promise<ServiceLimit[]> =>
      (await send({ method: 'GET', path: '/v1/limits' }, ServiceLimitListSchema, true)).limits,
    /** One system's limit with the changes of the limit in force. */
    getLimit: (system: string): Promise<ServiceLimitDetail> =>
      send({ method: 'GET', path: path(system) }, ServiceLimitDetailSchema, true),
    /** Puts an operator's limit in force instead of the configured one (audited with the reason). */
    overrideLimit: (system: string, body: LimitOverrideBody): Promise<ServiceLimit> =>
      send({ method: 'POST', path: `${path(system)}/override`, body }, ServiceLimitSchema, true),
    /** Removes the operator's override: the configured limit is in force again. */
    resetLimit: (system: string, reason: string): Promise<ServiceLimit> =>
      send({ method: 'POST', path: `${path(system)}/reset`, body: { reason } }, ServiceLimitSchema, true),
  };
}
