-- Decision steps and the `skipped` state. A step's kind (`type`: null for an ordinary step, else
-- the template's `type`, e.g. decision), the steps a decision may activate (`decides`) and
-- how a join converges (`convergence`) are copied onto the step at creation like its retry
-- policy, so the worker that claims a decision and the transaction that applies it need no
-- template. The previous release inserts steps without them: null and 'all' are what its
-- templates mean.

-- `type` is also added by the migration of batch steps; IF NOT EXISTS lets either go first.

-- AlterTable
ALTER TABLE "workflow_steps" ADD COLUMN IF NOT EXISTS "type" TEXT;
ALTER TABLE "workflow_steps" ADD COLUMN     "decides" TEXT[],
ADD COLUMN     "convergence" TEXT NOT NULL DEFAULT 'all';

-- ---------------------------------------------------------------------------------------------
-- Not expressible in schema.prisma (see the init migration).
--
-- type has no CHECK on purpose: the template schema validates it before any row exists,
-- and a new kind of step (batchable, ...) then needs no constraint swap released in step with it.
-- ---------------------------------------------------------------------------------------------

-- 'skipped': not chosen by a decision, or behind a skipped step; it never runs.
ALTER TABLE "workflow_steps" DROP CONSTRAINT "workflow_steps_status_check";
ALTER TABLE "workflow_steps" ADD CONSTRAINT "workflow_steps_status_check"
    CHECK ("status" IN ('pending', 'enqueued', 'held', 'in_progress', 'waiting_retry', 'complete', 'error',
                        'cancelled', 'resolved_manually', 'skipped'));

ALTER TABLE "workflow_steps" ADD CONSTRAINT "workflow_steps_convergence_check"
    CHECK ("convergence" IN ('all', 'deferred'));
