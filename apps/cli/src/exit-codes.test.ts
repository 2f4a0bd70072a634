import { SwitchyardApiError, SwitchyardNetworkError } from '@switchyard/client';
import { ConflictError, NotFoundError, ValidationError } from '@switchyard/core';
import { describe, expect, it } from 'vitest';
import { ExitCode, exitCodeFor } from './exit-codes.ts';

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
