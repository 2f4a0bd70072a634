-- The event outbox: what happened to tasks, steps and breakers, committed in the same
-- transaction as the change it reports. Triggers on the audit tables write the events, so no
-- code path that records a transition can forget its event, and a transition that rolls back
-- takes its event with it.

-- CreateTable
CREATE TABLE "events" (
    "position" BIGSERIAL NOT NULL,
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "tx_id" BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    "type" TEXT NOT NULL,
    "namespace" TEXT,
    "task_id" UUID,
    "correlation_id" TEXT,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "data" JSONB NOT NULL,

    CONSTRAINT "events_pkey" PRIMARY KEY ("position")
);

-- CreateIndex
CREATE UNIQUE INDEX "events_id_key" ON "events"("id");

-- CreateIndex
CREATE INDEX "events_tx_id_position_idx" ON "events"("tx_id", "position");

-- CreateIndex
CREATE INDEX "events_task_id_tx_id_position_idx" ON "events"("task_id", "tx_id", "position");

-- CreateIndex
CREATE INDEX "events_occurred_at_idx" ON "events"("occurred_at");

-- ---------------------------------------------------------------------------------------------
-- Not expressible in schema.prisma (see the init migration).
-- ---------------------------------------------------------------------------------------------

-- task.completed / task.failed / task.cancelled, from the task's audit row.
CREATE FUNCTION switchyard_task_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events (type, namespace, task_id, correlation_id, data)
  SELECT CASE NEW.to_status WHEN 'complete' THEN 'task.completed' WHEN 'error' THEN 'task.failed'
                            ELSE 'task.cancelled' END,
         ns.name, t.id, t.correlation_id,
         jsonb_build_object('task_id', t.id, 'namespace', ns.name, 'name', nt.name, 'version', nt.version,
                            'status', NEW.to_status, 'previous_status', NEW.from_status, 'reason', NEW.reason,
                            'actor', NEW.actor, 'correlation_id', t.correlation_id)
    FROM tasks t JOIN named_tasks nt ON nt.id = t.named_task_id JOIN namespaces ns ON ns.id = nt.namespace_id
   WHERE t.id = NEW.task_id;
  RETURN NULL;
END $$;

CREATE TRIGGER "task_transitions_event" AFTER INSERT ON "task_transitions"
    FOR EACH ROW WHEN (NEW.to_status IN ('complete', 'error', 'cancelled'))
    EXECUTE FUNCTION switchyard_task_event();

-- step.failed / step.resolved, from the step's audit row.
CREATE FUNCTION switchyard_step_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events (type, namespace, task_id, correlation_id, data)
  SELECT CASE NEW.to_status WHEN 'error' THEN 'step.failed' ELSE 'step.resolved' END,
         ns.name, t.id, t.correlation_id,
         jsonb_build_object('task_id', t.id, 'step_id', s.id, 'step', s.name, 'handler', s.handler,
                            'dependent_system', s.dependent_system, 'attempt', NEW.attempt,
                            'status', NEW.to_status, 'previous_status', NEW.from_status,
                            'reason', NEW.reason, 'actor', NEW.actor,
                            'error', CASE WHEN NEW.to_status = 'error' THEN s.last_error END,
                            'results', CASE WHEN NEW.to_status = 'resolved_manually' THEN s.results END)
    FROM workflow_steps s JOIN tasks t ON t.id = s.task_id
    JOIN named_tasks nt ON nt.id = t.named_task_id JOIN namespaces ns ON ns.id = nt.namespace_id
   WHERE s.id = NEW.step_id;
  RETURN NULL;
END $$;

CREATE TRIGGER "step_transitions_event" AFTER INSERT ON "step_transitions"
    FOR EACH ROW WHEN (NEW.to_status IN ('error', 'resolved_manually'))
    EXECUTE FUNCTION switchyard_step_event();

-- breaker.opened / breaker.closed, from the breaker's audit row.
CREATE FUNCTION switchyard_breaker_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events (type, data)
  VALUES (CASE NEW.to_state WHEN 'open' THEN 'breaker.opened' ELSE 'breaker.closed' END,
          jsonb_build_object('dependent_system', NEW.dependent_system, 'state', NEW.to_state,
                             'previous_state', NEW.from_state, 'reason', NEW.reason, 'actor', NEW.actor));
  RETURN NULL;
END $$;

CREATE TRIGGER "breaker_transitions_event" AFTER INSERT ON "breaker_transitions"
    FOR EACH ROW WHEN (NEW.to_state IN ('open', 'closed') AND NEW.from_state IS DISTINCT FROM NEW.to_state)
    EXECUTE FUNCTION switchyard_breaker_event();
