-- The domain events a step publishes (its template's `publishes`), copied onto the step at
-- creation like its retry policy, so the worker that claims it knows them without the template.

-- AlterTable
ALTER TABLE "workflow_steps" ADD COLUMN     "publishes" JSONB;
