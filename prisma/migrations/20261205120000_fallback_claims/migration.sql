-- Fallback attempts and the bulkheads: a step claimed while its system's breaker is open, to run
-- its handler's fallback (on_breaker_open: fallback), does not call the service, so no limit
-- holds it and it is not one of the system's calls in flight. The claim records which attempt
-- in progress is such a fallback; every claim sets it anew.
--
-- switchyard:contract replaces switchyard_limit_usage with a version that leaves fallback attempts out of the calls in flight; the previous release never sets claimed_for_fallback, so the new function counts its claims exactly as the old one did

-- AlterTable
ALTER TABLE "workflow_steps" ADD COLUMN "claimed_for_fallback" BOOLEAN NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION switchyard_limit_usage(p_system TEXT, p_now TIMESTAMPTZ,
                                                  OUT in_flight INTEGER, OUT reserved INTEGER, OUT waiters BOOLEAN)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  SELECT count(*) FILTER (WHERE s.status = 'in_progress' AND s.lease_expires_at > p_now AND NOT s.claimed_for_fallback),
         count(*) FILTER (WHERE s.status = 'enqueued' AND s.waiting_since IS NOT NULL)
    INTO in_flight, reserved
    FROM workflow_steps s
   WHERE s.dependent_system = p_system AND s.status IN ('in_progress', 'enqueued');
  waiters := EXISTS (SELECT 1 FROM workflow_steps s
                      WHERE s.dependent_system = p_system AND s.status = 'held'
                        AND s.hold_reason IN ('concurrency', 'rate'));
END $$;
