-- Bulkheads: fleet-wide concurrency and rate limits per dependent system.
--
-- The counter lives in Postgres, beside the lease and the fence it is made of: a system's calls
-- in flight are its steps `in_progress` under a lease that has not expired, counted under the
-- lock of its `service_limits` row, so two claims cannot both take the last slot, a dead
-- worker's capacity comes back when its lease expires, and losing Redis loses nothing. The rate
-- is a token bucket (`tokens` at `refilled_at`) updated under the same lock.
--
-- Expand only: the previous release never reads these, and a system without a row is not limited.

-- CreateTable
CREATE TABLE "service_limits" (
    "dependent_system" TEXT NOT NULL,
    "max_concurrent" INTEGER,
    "rate_per_second" DOUBLE PRECISION,
    "burst" INTEGER,
    "configured" JSONB,
    "override" JSONB,
    "tokens" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "refilled_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "service_limits_pkey" PRIMARY KEY ("dependent_system"),
    CONSTRAINT "service_limits_max_concurrent_check" CHECK ("max_concurrent" IS NULL OR "max_concurrent" >= 1),
    CONSTRAINT "service_limits_rate_check" CHECK (("rate_per_second" IS NULL AND "burst" IS NULL) OR ("rate_per_second" > 0 AND "burst" >= 1))
);

-- CreateTable
CREATE TABLE "service_limit_changes" (
    "id" BIGSERIAL NOT NULL,
    "dependent_system" TEXT NOT NULL,
    "max_concurrent" INTEGER,
    "rate_per_second" DOUBLE PRECISION,
    "burst" INTEGER,
    "source" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "service_limit_changes_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "service_limit_changes_source_check" CHECK ("source" IN ('config', 'operator'))
);

-- CreateIndex
CREATE INDEX "service_limit_changes_dependent_system_id_idx" ON "service_limit_changes"("dependent_system", "id");

-- AlterTable
ALTER TABLE "workflow_steps" ADD COLUMN "waiting_since" TIMESTAMPTZ(3);

-- A limited system's usage for the claim that admits its steps: calls in flight (in_progress
-- under an unexpired lease), released steps not claimed yet, and whether any step waits for the
-- limit. The claim statement locks the system's service_limits row first and then calls this:
-- a VOLATILE function takes a new snapshot for each query it runs, so the counts see every claim
-- committed before the lock was granted, where the claim statement's own snapshot, taken before
-- it waited for the lock, would not. One round trip instead of a transaction of three.
CREATE FUNCTION switchyard_limit_usage(p_system TEXT, p_now TIMESTAMPTZ,
                                       OUT in_flight INTEGER, OUT reserved INTEGER, OUT waiters BOOLEAN)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  SELECT count(*) FILTER (WHERE s.status = 'in_progress' AND s.lease_expires_at > p_now),
         count(*) FILTER (WHERE s.status = 'enqueued' AND s.waiting_since IS NOT NULL)
    INTO in_flight, reserved
    FROM workflow_steps s
   WHERE s.dependent_system = p_system AND s.status IN ('in_progress', 'enqueued');
  waiters := EXISTS (SELECT 1 FROM workflow_steps s
                      WHERE s.dependent_system = p_system AND s.status = 'held'
                        AND s.hold_reason IN ('concurrency', 'rate'));
END $$;
