-- The creation of the steps a task is created with is no longer stored as step_transitions rows
-- (one per step, three index entries and a foreign-key check each): it follows from the step
-- row, its task (run_at) and the task's creation transition (actor). step_audit is the whole
-- audit trail of steps: the stored rows, and a derived creation row for each step that has no
-- stored one (steps created later, by a batch plan, store theirs; tasks created before this
-- migration keep their stored rows). A derived row has no id; it comes first of its step.
CREATE VIEW "step_audit" AS
SELECT st.id, st.step_id, st.task_id, st.attempt, st.from_status, st.to_status, st.reason, st.actor,
       st.metadata, st.created_at
  FROM "step_transitions" st
UNION ALL
SELECT NULL::bigint, s.id, s.task_id, NULL::int, NULL::text,
       CASE WHEN root.is_root THEN 'enqueued' ELSE 'pending' END,
       CASE WHEN NOT root.is_root THEN 'created'
            WHEN t.run_at IS NULL THEN 'created; no dependencies'
            ELSE 'created; no dependencies; not before '
                 || to_char(t.run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') END,
       tt.actor, NULL::jsonb, s.created_at
  FROM "workflow_steps" s
  JOIN "tasks" t ON t.id = s.task_id
  JOIN "task_transitions" tt ON tt.task_id = s.task_id AND tt.from_status IS NULL
  CROSS JOIN LATERAL (
    SELECT NOT EXISTS (SELECT 1 FROM "workflow_step_edges" e WHERE e.to_step_id = s.id) AS is_root) root
 WHERE NOT EXISTS (SELECT 1 FROM "step_transitions" x WHERE x.step_id = s.id AND x.from_status IS NULL);
