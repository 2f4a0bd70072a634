-- The trace context a task was created in, so every step attempt joins the task's trace.

-- AlterTable
ALTER TABLE "tasks" ADD COLUMN     "trace_context" TEXT;
