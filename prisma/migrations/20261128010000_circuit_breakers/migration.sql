-- Fleet-wide circuit breakers decided from the attempt history, held steps and fallbacks.

-- AlterTable
ALTER TABLE "workflow_steps" ADD COLUMN     "on_breaker_open" TEXT NOT NULL DEFAULT 'wait',
ADD COLUMN     "hold_reason" TEXT,
ADD COLUMN     "hold_until" TIMESTAMPTZ(3),
ADD COLUMN     "probe" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "step_attempts" ADD COLUMN     "fallback" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "circuit_breakers" (
    "dependent_system" TEXT NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'closed',
    "since" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "next_probe_at" TIMESTAMPTZ(3),
    "trip_count" INTEGER NOT NULL DEFAULT 0,
    "forced" TEXT,
    "hold_until" TIMESTAMPTZ(3),
    "policy" JSONB NOT NULL,
    "release_rate" INTEGER NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "circuit_breakers_pkey" PRIMARY KEY ("dependent_system")
);

-- CreateTable
CREATE TABLE "breaker_transitions" (
    "id" BIGSERIAL NOT NULL,
    "dependent_system" TEXT NOT NULL,
    "from_state" TEXT,
    "to_state" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "evidence" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "breaker_transitions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "workflow_steps_dependent_system_status_idx" ON "workflow_steps"("dependent_system", "status");

-- CreateIndex
CREATE INDEX "breaker_transitions_dependent_system_id_idx" ON "breaker_transitions"("dependent_system", "id");

-- ---------------------------------------------------------------------------------------------
-- Not expressible in schema.prisma (see the init migration).
-- ---------------------------------------------------------------------------------------------

-- 'held': ready, but not dispatched while the service's breaker is open or a Retry-After holds it.
ALTER TABLE "workflow_steps" DROP CONSTRAINT "workflow_steps_status_check";
ALTER TABLE "workflow_steps" ADD CONSTRAINT "workflow_steps_status_check"
    CHECK ("status" IN ('pending', 'enqueued', 'held', 'in_progress', 'waiting_retry', 'complete', 'error',
                        'cancelled', 'resolved_manually'));

ALTER TABLE "workflow_steps" ADD CONSTRAINT "workflow_steps_on_breaker_open_check"
    CHECK ("on_breaker_open" IN ('wait', 'fallback'));

ALTER TABLE "circuit_breakers" ADD CONSTRAINT "circuit_breakers_state_check"
    CHECK ("state" IN ('closed', 'open', 'half_open'));

ALTER TABLE "circuit_breakers" ADD CONSTRAINT "circuit_breakers_forced_check"
    CHECK ("forced" IS NULL OR "forced" IN ('open', 'closed'));
