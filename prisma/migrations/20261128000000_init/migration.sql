-- Initial schema. Everything down to the "Not expressible in schema.prisma" section is what
-- `prisma migrate diff --from-empty --to-schema prisma/schema.prisma --script` generates for
-- prisma/schema.prisma (same types, defaults and Prisma's default constraint and index names),
-- so that `prisma migrate` sees no drift where its engine is available.
-- packages/db/src/schema-agreement.int.test.ts checks the two stay in agreement.

-- CreateTable
CREATE TABLE "namespaces" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "namespaces_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "named_tasks" (
    "id" SERIAL NOT NULL,
    "namespace_id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "description" TEXT,
    "definition" JSONB NOT NULL,
    "content_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "named_tasks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "tasks" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "named_task_id" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "identity_strategy" TEXT NOT NULL,
    "identity_hash" TEXT NOT NULL,
    "context" JSONB NOT NULL,
    "correlation_id" TEXT NOT NULL,
    "initiator" TEXT,
    "source_system" TEXT,
    "reason" TEXT,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "priority" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "tasks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "workflow_steps" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "task_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "handler" TEXT NOT NULL,
    "dependent_system" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "uncounted_attempts" INTEGER NOT NULL DEFAULT 0,
    "max_attempts" INTEGER NOT NULL,
    "backoff_base_ms" INTEGER NOT NULL,
    "backoff_cap_ms" INTEGER NOT NULL,
    "jitter" BOOLEAN NOT NULL DEFAULT true,
    "timeout_ms" INTEGER NOT NULL,
    "handler_config" JSONB NOT NULL DEFAULT '{}',
    "pending_parents" INTEGER NOT NULL,
    "results" JSONB,
    "last_error" JSONB,
    "next_attempt_at" TIMESTAMPTZ(3),
    "claimed_by" TEXT,
    "lease_expires_at" TIMESTAMPTZ(3),
    "enqueued_at" TIMESTAMPTZ(3),
    "started_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "workflow_steps_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "workflow_step_edges" (
    "task_id" UUID NOT NULL,
    "from_step_id" UUID NOT NULL,
    "to_step_id" UUID NOT NULL,

    CONSTRAINT "workflow_step_edges_pkey" PRIMARY KEY ("from_step_id","to_step_id")
);

-- CreateTable
CREATE TABLE "task_transitions" (
    "id" BIGSERIAL NOT NULL,
    "task_id" UUID NOT NULL,
    "from_status" TEXT,
    "to_status" TEXT NOT NULL,
    "reason" TEXT,
    "actor" TEXT NOT NULL,
    "metadata" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "task_transitions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "step_transitions" (
    "id" BIGSERIAL NOT NULL,
    "step_id" UUID NOT NULL,
    "task_id" UUID NOT NULL,
    "attempt" INTEGER,
    "from_status" TEXT,
    "to_status" TEXT NOT NULL,
    "reason" TEXT,
    "actor" TEXT NOT NULL,
    "metadata" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "step_transitions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "step_attempts" (
    "id" BIGSERIAL NOT NULL,
    "step_id" UUID NOT NULL,
    "task_id" UUID NOT NULL,
    "attempt" INTEGER NOT NULL,
    "dependent_system" TEXT NOT NULL,
    "worker_id" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "error_class" TEXT,
    "error_code" TEXT,
    "error_message" TEXT,
    "http_status" INTEGER,
    "retry_after_ms" INTEGER,
    "stale" BOOLEAN NOT NULL DEFAULT false,
    "started_at" TIMESTAMPTZ(3) NOT NULL,
    "finished_at" TIMESTAMPTZ(3) NOT NULL,
    "duration_ms" INTEGER NOT NULL,

    CONSTRAINT "step_attempts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "workers" (
    "id" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "handlers" TEXT[],
    "concurrency" INTEGER NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "stopped_at" TIMESTAMPTZ(3),

    CONSTRAINT "workers_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "namespaces_name_key" ON "namespaces"("name");

-- CreateIndex
CREATE UNIQUE INDEX "named_tasks_namespace_id_name_version_key" ON "named_tasks"("namespace_id", "name", "version");

-- CreateIndex
CREATE UNIQUE INDEX "tasks_identity_hash_key" ON "tasks"("identity_hash");

-- CreateIndex
CREATE INDEX "tasks_status_created_at_idx" ON "tasks"("status", "created_at");

-- CreateIndex
CREATE INDEX "tasks_correlation_id_idx" ON "tasks"("correlation_id");

-- CreateIndex
CREATE INDEX "tasks_named_task_id_created_at_idx" ON "tasks"("named_task_id", "created_at");

-- CreateIndex
CREATE INDEX "workflow_steps_status_next_attempt_at_idx" ON "workflow_steps"("status", "next_attempt_at");

-- CreateIndex
CREATE INDEX "workflow_steps_status_lease_expires_at_idx" ON "workflow_steps"("status", "lease_expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "workflow_steps_task_id_name_key" ON "workflow_steps"("task_id", "name");

-- CreateIndex
CREATE INDEX "workflow_step_edges_to_step_id_idx" ON "workflow_step_edges"("to_step_id");

-- CreateIndex
CREATE INDEX "workflow_step_edges_task_id_idx" ON "workflow_step_edges"("task_id");

-- CreateIndex
CREATE INDEX "task_transitions_task_id_id_idx" ON "task_transitions"("task_id", "id");

-- CreateIndex
CREATE INDEX "step_transitions_step_id_id_idx" ON "step_transitions"("step_id", "id");

-- CreateIndex
CREATE INDEX "step_transitions_task_id_id_idx" ON "step_transitions"("task_id", "id");

-- CreateIndex
CREATE INDEX "step_attempts_dependent_system_finished_at_idx" ON "step_attempts"("dependent_system", "finished_at");

-- CreateIndex
CREATE INDEX "step_attempts_task_id_idx" ON "step_attempts"("task_id");

-- CreateIndex
CREATE UNIQUE INDEX "step_attempts_step_id_attempt_key" ON "step_attempts"("step_id", "attempt");

-- CreateIndex
CREATE INDEX "workers_last_seen_at_idx" ON "workers"("last_seen_at");

-- AddForeignKey
ALTER TABLE "named_tasks" ADD CONSTRAINT "named_tasks_namespace_id_fkey" FOREIGN KEY ("namespace_id") REFERENCES "namespaces"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_named_task_id_fkey" FOREIGN KEY ("named_task_id") REFERENCES "named_tasks"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "workflow_steps" ADD CONSTRAINT "workflow_steps_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "workflow_step_edges" ADD CONSTRAINT "workflow_step_edges_from_step_id_fkey" FOREIGN KEY ("from_step_id") REFERENCES "workflow_steps"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "workflow_step_edges" ADD CONSTRAINT "workflow_step_edges_to_step_id_fkey" FOREIGN KEY ("to_step_id") REFERENCES "workflow_steps"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task_transitions" ADD CONSTRAINT "task_transitions_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "step_transitions" ADD CONSTRAINT "step_transitions_step_id_fkey" FOREIGN KEY ("step_id") REFERENCES "workflow_steps"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "step_attempts" ADD CONSTRAINT "step_attempts_step_id_fkey" FOREIGN KEY ("step_id") REFERENCES "workflow_steps"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- ---------------------------------------------------------------------------------------------
-- Not expressible in schema.prisma. Prisma's differ does not model CHECK constraints, so these
-- cause no drift for `prisma migrate`; keep them when a later migration recreates a table.
--
-- Statuses are TEXT + CHECK rather than Postgres enums: adding a status is then a constraint
-- swap in one transaction, not an ALTER TYPE ... ADD VALUE (which cannot be used in the same
-- transaction that adds it). The lists mirror packages/core/src/states.ts.
-- ---------------------------------------------------------------------------------------------

ALTER TABLE "tasks" ADD CONSTRAINT "tasks_status_check"
    CHECK ("status" IN ('pending', 'in_progress', 'complete', 'error', 'cancelled'));

ALTER TABLE "tasks" ADD CONSTRAINT "tasks_identity_strategy_check"
    CHECK ("identity_strategy" IN ('strict', 'caller_key', 'unique'));

ALTER TABLE "workflow_steps" ADD CONSTRAINT "workflow_steps_status_check"
    CHECK ("status" IN ('pending', 'enqueued', 'in_progress', 'waiting_retry', 'complete', 'error',
                        'cancelled', 'resolved_manually'));

-- The attempt counter is the claim fence (attempt N moves it from N-1 to N); a negative value
-- could only come from a bug, and would let a stale attempt number match again.
ALTER TABLE "workflow_steps" ADD CONSTRAINT "workflow_steps_attempts_check"
    CHECK ("attempts" >= 0 AND "uncounted_attempts" >= 0);

-- lease_expired is written by the scheduler when it takes back a dead worker's claim
-- (packages/db/src/repairs.ts), so it belongs to the list as well.
ALTER TABLE "step_attempts" ADD CONSTRAINT "step_attempts_outcome_check"
    CHECK ("outcome" IN ('success', 'retryable_error', 'permanent_error', 'timeout', 'lease_expired', 'aborted'));
