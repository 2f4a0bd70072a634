import { describe, expect, it } from 'vitest';
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
    logger.child({ task_id: 't-1' }).info({ attempt: 1 }, 'hello');
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
