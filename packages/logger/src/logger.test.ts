import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { contextLogger, currentLogContext, withLogContext } from './context.ts';
import { createLogger, MAX_LOG_STRING } from './logger.ts';
import { formatPretty } from './pretty.ts';

type Entry = Record<string, unknown>;

/** A root logger writing into an array: raw lines and parsed entries. */
function capture(options: { level?: string; pretty?: boolean } = {}) {
  const raw: string[] = [];
  const logger = createLogger({
    name: 'test',
    level: 'debug',
    ...options,
    destination: { write: (line) => raw.push(line) },
  });
  const entries = () => raw.map((line) => JSON.parse(line) as Entry);
  return { logger, raw, entries };
}

const STEP = { task_id: 't-1', step_name: 'setup_billing_profile', attempt: 2, correlation_id: 'c-9' };

describe('log context', () => {
  it('stamps every line logged inside withLogContext, through awaits and children, and no line outside', async () => {
    const { logger, entries } = capture();
    const component = logger.child({ component: 'step-runner' });
    await withLogContext(STEP, async () => {
      logger.info('started');
      await sleep(1);
      component.warn({ retry_in_ms: 100 }, 'retrying');
      setImmediate(() => logger.debug('later, in a callback'));
      await sleep(5);
    });
    logger.info('outside');

    const [started, retrying, later, outside] = entries();
    expect(started).toMatchObject({ ...STEP, msg: 'started' });
    expect(retrying).toMatchObject({ ...STEP, component: 'step-runner', retry_in_ms: 100 });
    expect(later).toMatchObject({ ...STEP, msg: 'later, in a callback' });
    expect(outside).not.toHaveProperty('task_id');
  });

  it('keeps concurrent contexts apart and lets inner bindings win', async () => {
    const { logger, entries } = capture();
    const run = (task: string) =>
      withLogContext({ task_id: task, attempt: 1 }, async () => {
        await sleep(task === 'a' ? 5 : 1);
        withLogContext({ attempt: 2 }, () => logger.info(task));
      });
    await Promise.all([run('a'), run('b')]);
    expect(entries().map(({ msg, task_id, attempt }) => ({ msg, task_id, attempt }))).toEqual([
      { msg: 'b', task_id: 'b', attempt: 2 },
      { msg: 'a', task_id: 'a', attempt: 2 },
    ]);
  });

  it('exposes the current bindings', () => {
    expect(currentLogContext()).toEqual({});
    withLogContext(STEP, () => expect(currentLogContext()).toEqual(STEP));
  });

  it('contextLogger binds the context for later use without printing a key twice', () => {
    const { logger, raw, entries } = capture();
    const bound = withLogContext(STEP, () => {
      const child = contextLogger(logger);
      child.info('inside');
      return child;
    });
    bound.child({ extra: 1 }).info('after the context ended');
    withLogContext({ ...STEP, http_status: 503 }, () => bound.info('in a new context'));

    expect(entries()).toMatchObject([
      { ...STEP, msg: 'inside' },
      { ...STEP, extra: 1, msg: 'after the context ended' },
      { ...STEP, http_status: 503, msg: 'in a new context' },
    ]);
    for (const line of raw) expect(line.match(/"task_id"/g)).toHaveLength(1);
  });
});

describe('createLogger', () => {
  it('writes JSON with the level name, time, name and an err serializer', () => {
    const { logger, entries } = capture();
    const cause = new Error('socket hang up');
    logger.error({ err: new Error('billing failed', { cause }) }, 'step failed');
    const [entry] = entries();
    expect(entry).toMatchObject({ level: 'error', name: 'test', msg: 'step failed' });
    expect(typeof entry?.time).toBe('string');
    expect(entry?.err).toMatchObject({
      type: 'Error',
      message: 'billing failed: socket hang up',
      stack: expect.stringMatching(/^Error: billing failed\n[\s\S]*caused by: Error: socket hang up/),
    });
  });

  it('censors credentials wherever they usually appear', () => {
    const { logger, raw } = capture();
    logger.info(
      {
        password: 'p1',
        token: 't1',
        user: { apiKey: 'k1', secret: 's1', name: 'kept' },
        headers: { authorization: 'Bearer h1', cookie: 'sid=c1', 'set-cookie': 'sid=c2', accept: 'json' },
        req: { headers: { Authorization: 'Bearer h2', 'x-api-key': 'k2' } },
        err: Object.assign(new Error('401'), { config: { headers: { Authorization: 'Bearer h3' } } }),
      },
      'call',
    );
    const line = raw[0]!;
    for (const secret of ['p1', 't1', 'k1', 's1', 'h1', 'c1', 'c2', 'h2', 'k2', 'h3']) {
      expect(line).not.toMatch(new RegExp(`\\b${secret}\\b`));
    }
    expect(line).toContain('"name":"kept"');
    expect(line).toContain('"accept":"json"');
    expect(line).toContain('[redacted]');
  });

  it('caps huge strings in the message, fields and errors without touching the caller’s objects', () => {
    const { logger, entries } = capture();
    const huge = 'x'.repeat(MAX_LOG_STRING * 3);
    const payload = { response: { body: huge, items: [huge] } };
    logger.info(payload, huge);
    logger.error(new Error(huge));
    const [fields, error] = entries() as [Entry, Entry];
    const limit = MAX_LOG_STRING + 40;
    expect(String(fields.msg).length).toBeLessThan(limit);
    expect(JSON.stringify(fields.response).length).toBeLessThan(2 * limit);
    expect(fields.msg).toMatch(/…\[8192 more chars\]$/);
    expect(String(error.msg).length).toBeLessThan(limit);
    expect((error.err as { message: string }).message.length).toBeLessThan(limit);
    expect(payload.response.body).toHaveLength(MAX_LOG_STRING * 3);
  });

  it('respects the level', () => {
    const { logger, raw } = capture({ level: 'warn' });
    logger.info('hidden');
    logger.warn('shown');
    expect(raw).toHaveLength(1);
  });

  it('prints readable lines when pretty', () => {
    const { logger, raw } = capture({ pretty: true });
    withLogContext({ task_id: 't-1' }, () => logger.info({ attempt: 1 }, 'hello'));
    expect(raw[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}test: hello \{"task_id":"t-1","attempt":1\}\n$/);
  });
});

describe('formatPretty', () => {
  it('indents an error stack under the line', () => {
    const line = JSON.stringify({
      level: 'error',
      time: '2026-01-01T10:00:00.000Z',
      msg: 'boom',
      err: { stack: 'Error: x\n  at y' },
    });
    expect(formatPretty(line)).toBe('10:00:00.000 ERROR boom\n    Error: x\n      at y\n');
  });
});
