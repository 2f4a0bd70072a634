-- The scheduler's settled-task repair examines a bounded page of running tasks per sweep, in id
-- order, resuming after the last task of the previous page. This index holds only running tasks,
-- so a page is a short index scan however many finished tasks the table keeps. Over 20 000
-- running and 100 000 complete tasks (bench/src/settled-task-scan.ts), a page of 500 read 5
-- index blocks this way; through the primary key it read 3029 (it also visits the finished tasks
-- in between, about six per running task there, more with a longer history), and through
-- tasks_status_created_at_idx it would sort every running task for each page.
-- Its cost: one entry per task that becomes pending or in_progress (those updates are not HOT
-- anyway, status is indexed): inserting 20 000 pending tasks and starting them, in two
-- statements, took 580 ms instead of 525 ms, the tasks' rows alone (no steps, no transitions).
--
-- Partial: schema.prisma cannot declare it (see the Task model), and
-- packages/db/src/schema-agreement.int.test.ts checks its definition instead.
-- Building it holds task writes back while it runs: 140-200 ms over 120 000 tasks on this 2-core
-- machine. (CONCURRENTLY would not, but cannot run inside the migrator's transaction.)

-- CreateIndex
CREATE INDEX "tasks_running_id_idx" ON "tasks"("id") WHERE "status" IN ('pending', 'in_progress');
