import { StepStatusSchema, TaskStatusSchema } from '@switchyard/client';
import { STEP_STATUSES, TASK_STATUSES } from '@switchyard/core';
import { describe, expect, it } from 'vitest';

// The client's contract cannot import core (it depends on zod and axios only), so its copy of
// the statuses is checked here, where both meet: a status added in core must reach the wire.
describe('the wire contract', () => {
  it('names exactly the task and step statuses core declares', () => {
    expect([...TaskStatusSchema.options].sort()).toEqual([...TASK_STATUSES].sort());
    expect([...StepStatusSchema.options].sort()).toEqual([...STEP_STATUSES].sort());
  });
});
