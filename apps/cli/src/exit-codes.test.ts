import { SwitchyardApiError, SwitchyardNetworkError } from '@switchyard/client';
import {
  ConflictError,
  NotFoundError,
  TransientInfrastructureError,
  ValidationError,
} from '@switchyard/core';
import { describe, expect, it } from 'vitest';
import { classifyError, ExitCode, exitCodeFor } from './exit-codes.ts';

const api = (status: number) =>
  new SwitchyardApiError({ type: 'x', title: 't', status, detail: 'd', code: 'c' });

describe('exit codes', () => {
  it('map API statuses and local errors to documented codes', () => {
    expect([400, 401, 403, 404, 409, 503, 418].map((s) => exitCodeFor(api(s)))).toEqual([
      ExitCode.USAGE,
      ExitCode.AUTH,
      ExitCode.AUTH,
      ExitCode.NOT_FOUND,
      ExitCode.CONFLICT,
      ExitCode.UNAVAILABLE,
      ExitCode.FAILURE,
    ]);
    expect(exitCodeFor(new SwitchyardNetworkError('down'))).toBe(ExitCode.UNAVAILABLE);
    expect(exitCodeFor(new ValidationError('bad', []))).toBe(ExitCode.USAGE);
    expect(exitCodeFor(new NotFoundError('no'))).toBe(ExitCode.NOT_FOUND);
    expect(exitCodeFor(new ConflictError('no'))).toBe(ExitCode.CONFLICT);
    expect(exitCodeFor(new Error('boom'))).toBe(ExitCode.FAILURE);
  });
});

describe('classifyError', () => {
  const scene = { databaseUrl: 'postgresql://ops:s3cret@db.internal:6432/switchyard', databaseUrlSet: true };
  const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

  it('names the unreachable database without its credentials, after the retries too', () => {
    const refused = pgError('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.5:6432');
    const retried = new TransientInfrastructureError('database unavailable', { cause: refused });
    for (const err of [refused, retried, pgError('ENOTFOUND', 'getaddrinfo ENOTFOUND db.internal')]) {
      const report = classifyError(err, scene);
      expect(report).toMatchObject({ code: 'database_unavailable', exitCode: ExitCode.UNAVAILABLE });
      expect(report.message).toMatch(
        /^cannot reach Postgres at db\.internal:6432\/switchyard \(DATABASE_URL\): /,
      );
      expect(report.message).not.toContain('s3cret');
    }
    expect(classifyError(retried, scene).message).toContain('connect ECONNREFUSED 10.0.0.5:6432');
  });

  it('says when DATABASE_URL was not set and its default was tried', () => {
    const report = classifyError(pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'), {
      databaseUrl: 'postgresql://postgres@127.0.0.1:5432/switchyard',
      databaseUrlSet: false,
    });
    expect(report.message).toBe(
      'cannot reach Postgres at 127.0.0.1:5432/switchyard (the default, as DATABASE_URL is not set): connect ECONNREFUSED 127.0.0.1:5432; start Postgres or point DATABASE_URL at it',
    );
  });

  it('tells how to fix a database that is missing, not migrated, or refuses the login', () => {
    expect(classifyError(pgError('3D000', 'database "switchyard" does not exist'), scene)).toMatchObject({
      code: 'database_missing',
      exitCode: ExitCode.UNAVAILABLE,
      message: expect.stringContaining('`switchyard migrate` creates it'),
    });
    expect(classifyError(pgError('42P01', 'relation "api_keys" does not exist'), scene)).toMatchObject({
      code: 'database_not_migrated',
      exitCode: ExitCode.UNAVAILABLE,
      message: expect.stringContaining('run `switchyard migrate`'),
    });
    expect(classifyError(pgError('28P01', 'password authentication failed'), scene)).toMatchObject({
      code: 'database_login_failed',
      exitCode: ExitCode.USAGE,
    });
  });

  it('reports an unreadable input file as bad input, and anything else as unexpected', () => {
    const missing = pgError('ENOENT', "ENOENT: no such file or directory, open 'ctx.json'");
    expect(classifyError(missing)).toEqual({
      code: 'input_unreadable',
      exitCode: ExitCode.USAGE,
      message: "ENOENT: no such file or directory, open 'ctx.json'",
    });
    expect(classifyError(new Error('boom'))).toEqual({ code: 'unexpected', exitCode: 1, message: 'boom' });
  });

  it('names the API that could not be reached', () => {
    const err = new SwitchyardNetworkError('GET /v1/tasks failed: connect ECONNREFUSED 127.0.0.1:1');
    expect(classifyError(err, { apiUrl: 'http://127.0.0.1:1' })).toEqual({
      code: 'api_unavailable',
      exitCode: ExitCode.UNAVAILABLE,
      message:
        'the API at http://127.0.0.1:1 (SWITCHYARD_API_URL) is unavailable: GET /v1/tasks failed: connect ECONNREFUSED 127.0.0.1:1; start it or point SWITCHYARD_API_URL at it',
    });
  });

  it('keeps the API problem code, status and field problems', () => {
    const err = new SwitchyardApiError({
      type: 'x',
      title: 'Bad Request',
      status: 400,
      detail: 'context does not match the template',
      code: 'validation_failed',
      errors: [{ path: '/context/email', rule: 'format', message: 'must be an email' }],
    });
    expect(classifyError(err)).toEqual({
      code: 'validation_failed',
      message: 'context does not match the template',
      exitCode: ExitCode.USAGE,
      status: 400,
      details: [{ path: '/context/email', rule: 'format', message: 'must be an email' }],
    });
  });
});
