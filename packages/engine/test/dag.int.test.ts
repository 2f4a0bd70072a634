import { defineStepHandler } from '@switchyard/handler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, sleep, testTemplate } from './harness.ts';

let h: EngineHarness;
beforeAll(async () => {
  h = await createEngineHarness();
});
afterAll(() => h.close());

describe('DAG execution', () => {
  it('runs a linear DAG in order and hands each step its parents results', async () => {
    const seen: Record<string, unknown> = {};
    const step = (name: string) =>
      defineStepHandler(`lin_${name}`, (ctx) => {
        seen[name] = ctx.parents;
        return { from: name, n: Object.keys(ctx.parents).length };
      });
    const template = testTemplate({
      steps: [
        { name: 'a', handler: 'lin_a' },
        { name: 'b', handler: 'lin_b', depends_on: ['a'] },
        { name: 'c', handler: 'lin_c', depends_on: ['b'] },
      ],
    });
    await h.start([step('a'), step('b'), step('c')], [template]);
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    expect(await h.waitForTask(task.id)).toBe('complete');
    const attempts = await h.attempts(task.id);
    expect(attempts.map((a) => a.step)).toEqual(['a', 'b', 'c']);
    for (let i = 1; i < attempts.length; i++) {
      expect(attempts[i]!.started_at.getTime()).toBeGreaterThanOrEqual(
        attempts[i - 1]!.finished_at.getTime(),
      );
    }
    expect(seen).toEqual({ a: {}, b: { a: { from: 'a', n: 0 } }, c: { b: { from: 'b', n: 1 } } });
    expect((await h.steps(task.id)).map((s) => s.results)).toEqual([
      { from: 'a', n: 0 },
      { from: 'b', n: 1 },
      { from: 'c', n: 1 },
    ]);
  });

  it('runs the two branches of a diamond in parallel and fans in once both are done', async () => {
    const windows: Record<string, [number, number]> = {};
    const timed = (name: string, ms: number) =>
      defineStepHandler(`dia_${name}`, async (ctx) => {
        const start = Date.now();
        await sleep(ms);
        windows[name] = [start, Date.now()];
        return { name, parents: Object.keys(ctx.parents).sort() };
      });
    const template = testTemplate({
      steps: [
        { name: 'root', handler: 'dia_root' },
        { name: 'left', handler: 'dia_left', depends_on: ['root'] },
        { name: 'right', handler: 'dia_right', depends_on: ['root'] },
        { name: 'join', handler: 'dia_join', depends_on: ['left', 'right'] },
      ],
    });
    await h.start(
      [timed('root', 10), timed('left', 400), timed('right', 400), timed('join', 10)],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    expect(await h.waitForTask(task.id)).toBe('complete');
    const [leftStart, leftEnd] = windows.left!;
    const [rightStart, rightEnd] = windows.right!;
    expect(leftStart).toBeLessThan(rightEnd);
    expect(rightStart).toBeLessThan(leftEnd);
    expect(windows.join![0]).toBeGreaterThanOrEqual(Math.max(leftEnd, rightEnd));
    const join = (await h.steps(task.id)).find((s) => s.name === 'join')!;
    expect(join.results).toEqual({ name: 'join', parents: ['left', 'right'] });
    const joinAttempts = (await h.attempts(task.id)).filter((a) => a.step === 'join');
    expect(joinAttempts).toHaveLength(1);
  });

  it('lets a running sibling branch finish when the other branch fails, then fails the task', async () => {
    const template = testTemplate({
      steps: [
        { name: 'root', handler: 'sib_ok' },
        { name: 'bad', handler: 'sib_bad', depends_on: ['root'] },
        { name: 'slow', handler: 'sib_slow', depends_on: ['root'] },
        { name: 'join', handler: 'sib_ok', depends_on: ['bad', 'slow'] },
      ],
    });
    const { PermanentError } = await import('@switchyard/handler-kit');
    await h.start(
      [
        defineStepHandler('sib_ok', () => ({ ok: true })),
        defineStepHandler('sib_bad', () => {
          throw new PermanentError('rejected', { errorCode: 'invalid_plan' });
        }),
        defineStepHandler('sib_slow', async () => {
          await sleep(500);
          return { slow: true };
        }),
      ],
      [template],
    );
    const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });

    expect(await h.waitForTask(task.id)).toBe('error');
    const steps = Object.fromEntries((await h.steps(task.id)).map((s) => [s.name, s.status]));
    expect(steps).toEqual({ root: 'complete', bad: 'error', slow: 'complete', join: 'pending' });
    const { rows } = await h.pool.query(
      'SELECT from_status, to_status, reason FROM task_transitions WHERE task_id = $1 ORDER BY id',
      [task.id],
    );
    expect(rows.at(-1)).toEqual({
      from_status: 'in_progress',
      to_status: 'error',
      reason: 'blocked by failures',
    });
  });
  it('finalizes a task exactly once when its two last steps, with no common child, finish together', async () => {
    // Each leaf waits for its sibling to start, so both finish within the same instant: the
    // worst case for deciding, without a lock, who is the last to settle.
    const started = new Map<string, number>();
    const release = new Map<string, () => void>();
    const leaf = (name: string) =>
      defineStepHandler(`par_${name}`, async (ctx) => {
        const count = (started.get(ctx.task.id) ?? 0) + 1;
        started.set(ctx.task.id, count);
        if (count === 2) release.get(ctx.task.id)?.();
        else await new Promise<void>((resolve) => release.set(ctx.task.id, resolve));
        return { name };
      });
    const template = testTemplate({
      identity_strategy: 'unique',
      steps: [
        { name: 'root', handler: 'par_root' },
        { name: 'x', handler: 'par_x', depends_on: ['root'] },
        { name: 'y', handler: 'par_y', depends_on: ['root'] },
      ],
    });
    // No scheduler runs here: a task that no worker finalized would stay in_progress.
    await h.start([defineStepHandler('par_root', () => ({})), leaf('x'), leaf('y')], [template], {
      concurrency: 10,
    });
    const ids = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const { task } = await h.create({ namespace: 'test', name: template.name, context: {} });
        return task.id;
      }),
    );

    for (const id of ids) expect(await h.waitForTask(id, ['complete'], 10_000)).toBe('complete');
    const { rows } = await h.pool.query(
      `SELECT task_id, count(*)::int AS n FROM task_transitions
        WHERE task_id = ANY($1) AND to_status = 'complete' GROUP BY task_id`,
      [ids],
    );
    expect(rows).toHaveLength(ids.length);
    for (const row of rows) expect(row.n).toBe(1);
  });
});
