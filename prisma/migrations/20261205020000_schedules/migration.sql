-- Delayed start and schedules. A task may carry `run_at`: its root steps are created enqueued
-- with next_attempt_at = run_at, so no claim succeeds before it. A schedule creates one task
-- per cron tick; the scheduler locks due schedules FOR UPDATE SKIP LOCKED and advances
-- next_run_at in the transaction that creates the tick's task, and the task's identity is
-- derived from the schedule and the tick, so a replayed tick never creates a second task.
-- Expand only: the previous release ignores the new nullable columns and tables.

-- AlterTable
ALTER TABLE "tasks" ADD COLUMN "run_at" TIMESTAMPTZ(3),
ADD COLUMN "schedule_id" UUID,
ADD COLUMN "schedule_tick_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "schedules" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "namespace" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "version" TEXT,
    "cron" TEXT NOT NULL,
    "timezone" TEXT NOT NULL,
    "context" JSONB NOT NULL,
    "overlap" TEXT NOT NULL,
    "catch_up" TEXT NOT NULL,
    "paused" BOOLEAN NOT NULL DEFAULT false,
    "next_run_at" TIMESTAMPTZ(3),
    "last_tick_at" TIMESTAMPTZ(3),
    "last_task_id" UUID,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "schedules_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "schedule_ticks" (
    "schedule_id" UUID NOT NULL,
    "tick_at" TIMESTAMPTZ(3) NOT NULL,
    "outcome" TEXT NOT NULL,
    "task_id" UUID,
    "detail" TEXT,
    "recorded_by" TEXT NOT NULL,
    "recorded_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "schedule_ticks_pkey" PRIMARY KEY ("schedule_id","tick_at")
);

-- CreateIndex
CREATE INDEX "tasks_schedule_id_created_at_idx" ON "tasks"("schedule_id", "created_at");

-- CreateIndex
CREATE INDEX "schedules_paused_next_run_at_idx" ON "schedules"("paused", "next_run_at");

-- CreateIndex
CREATE INDEX "schedules_created_at_idx" ON "schedules"("created_at");

-- AddForeignKey
ALTER TABLE "schedule_ticks" ADD CONSTRAINT "schedule_ticks_schedule_id_fkey" FOREIGN KEY ("schedule_id") REFERENCES "schedules"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- ---------------------------------------------------------------------------------------------
-- Not expressible in schema.prisma (see the init migration).
-- ---------------------------------------------------------------------------------------------

ALTER TABLE "schedules" ADD CONSTRAINT "schedules_overlap_check"
    CHECK ("overlap" IN ('skip', 'allow', 'cancel_previous'));

ALTER TABLE "schedules" ADD CONSTRAINT "schedules_catch_up_check"
    CHECK ("catch_up" IN ('none', 'latest', 'all'));

ALTER TABLE "schedule_ticks" ADD CONSTRAINT "schedule_ticks_outcome_check"
    CHECK ("outcome" IN ('created', 'skipped_overlap', 'failed'));
