-- Batch steps: a step's template type, and for the workers a batchable step's plan creates, the
-- group they belong to (the prototype step's id), their batch index, their cursor and the last
-- checkpoint an attempt recorded. All nullable: the previous release neither writes nor reads them.
-- `type` may also be added by the migration of decision steps; IF NOT EXISTS lets either go first.

-- AlterTable
ALTER TABLE "workflow_steps" ADD COLUMN IF NOT EXISTS "type" TEXT;
ALTER TABLE "workflow_steps" ADD COLUMN     "batch_of" UUID,
ADD COLUMN     "batch_index" INTEGER,
ADD COLUMN     "batch_cursor" JSONB,
ADD COLUMN     "batch_checkpoint" JSONB;

-- CreateIndex
CREATE INDEX "workflow_steps_batch_of_batch_index_idx" ON "workflow_steps"("batch_of", "batch_index");
