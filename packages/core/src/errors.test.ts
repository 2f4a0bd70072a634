import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  ConflictError,
  classifyStepError,
  NotFoundError,
  PermanentError,
  RetryableError,
  StepTimeoutError,
  SwitchyardError,
  TransientInfrastructureError,
  toError,
  ValidationError,
} from './errors.ts';

describe('error hierarchy', () => {
  it.each([
    [new NotFoundError('x'), 'NotFoundError', 'not_found'],
    [new ConflictError('x'), 'ConflictError', 'conflict'],
    [new ConfigError('x'), 'ConfigError', 'config_invalid'],
    [new TransientInfrastructureError('x'), 'TransientInfrastructureError', 'transient_infrastructure'],
    [new ValidationError('x', []), 'ValidationError', 'validation_failed'],
  ])('%s has its name and code', (error, name, code) => {
    expect(error).toBeInstanceOf(SwitchyardError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe(name);
    expect(error.code).toBe(code);
  });

  it('keeps the cause', () => {
    const cause = new Error('ECONNRESET');
    expect(new TransientInfrastructureError('database unavailable', { cause }).cause).toBe(cause);
  });

  it('lists validation issues in the message', () => {
    const error = new ValidationError('invalid template', [
      { path: '/steps/1/depends_on', rule: 'unknown_dependency', message: 'unknown step "x"' },
      { path: '', rule: 'type', message: 'must be an object' },
    ]);
    expect(error.message).toBe(
      'invalid template: /steps/1/depends_on: unknown step "x" (unknown_dependency); (root): must be an object (type)',
    );
    expect(error.issues).toHaveLength(2);
  });

  it('names the step errors and keeps their options', () => {
    const at = new Date('2030-01-01T00:00:00Z');
    const retryable = new RetryableError('rate limited', {
      retryAfter: at,
      httpStatus: 429,
      errorCode: 'rate_limited',
    });
    expect(retryable).toMatchObject({
      name: 'RetryableError',
      retryAfter: at,
      httpStatus: 429,
      errorCode: 'rate_limited',
    });
    const permanent = new PermanentError('bad email', {
      errorCode: 'invalid_email',
      httpStatus: 422,
      cause: 'x',
    });
    expect(permanent).toMatchObject({
      name: 'PermanentError',
      errorCode: 'invalid_email',
      httpStatus: 422,
      cause: 'x',
    });
    expect(new StepTimeoutError(500)).toMatchObject({
      name: 'StepTimeoutError',
      timeoutMs: 500,
      message: 'step exceeded its timeout of 500 ms',
    });
  });
});

describe('toError', () => {
  it('keeps errors as they are', () => {
    const error = new TypeError('boom');
    expect(toError(error)).toBe(error);
  });

  it('turns a string into the message, keeping it as the cause', () => {
    const error = toError('boom');
    expect(error.message).toBe('boom');
    expect(error.cause).toBe('boom');
  });

  it('describes other values', () => {
    expect(toError({ status: 500 }).message).toBe('non-error thrown: {"status":500}');
    expect(toError({ message: 'from another realm' }).message).toBe('non-error thrown: from another realm');
    expect(toError(undefined).message).toBe('non-error thrown: undefined');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(toError(circular).message).toBe('non-error thrown: [object Object]');
    expect(toError(42).cause).toBe(42);
  });
});

describe('classifyStepError', () => {
  const now = new Date('2030-01-01T00:00:00Z');

  it('classifies a permanent error with its code', () => {
    const err = new PermanentError('email rejected', { errorCode: 'invalid_email', httpStatus: 422 });
    expect(classifyStepError(err, now)).toEqual({
      outcome: 'permanent_error',
      errorClass: 'PermanentError',
      errorCode: 'invalid_email',
      message: 'email rejected',
      httpStatus: 422,
      retryAfterMs: null,
    });
  });

  it('turns retryAfter seconds into milliseconds', () => {
    const err = new RetryableError('slow down', { retryAfter: 2.5, httpStatus: 429 });
    expect(classifyStepError(err, now)).toMatchObject({
      outcome: 'retryable_error',
      retryAfterMs: 2500,
      httpStatus: 429,
    });
  });

  it('turns a retryAfter date into the time left, never negative', () => {
    const later = new RetryableError('x', { retryAfter: new Date(now.getTime() + 7000) });
    const past = new RetryableError('x', { retryAfter: new Date(now.getTime() - 7000) });
    expect(classifyStepError(later, now).retryAfterMs).toBe(7000);
    expect(classifyStepError(past, now).retryAfterMs).toBe(0);
    expect(classifyStepError(new RetryableError('x'), now).retryAfterMs).toBeNull();
  });

  it('recognises a timeout by its name', () => {
    expect(classifyStepError(new StepTimeoutError(100))).toMatchObject({
      outcome: 'timeout',
      errorClass: 'StepTimeoutError',
    });
    const foreign = Object.assign(new Error('late'), { name: 'StepTimeoutError' });
    expect(classifyStepError(foreign).outcome).toBe('timeout');
  });

  it('retries anything else, naming its class', () => {
    expect(classifyStepError(new TypeError('x is undefined'))).toMatchObject({
      outcome: 'retryable_error',
      errorClass: 'TypeError',
      errorCode: null,
    });
    class SocketHangUp extends Error {}
    expect(classifyStepError(new SocketHangUp('hang up')).errorClass).toBe('SocketHangUp');
    expect(classifyStepError('just a string')).toMatchObject({
      outcome: 'retryable_error',
      message: 'just a string',
    });
  });

  it('classifies a permanent error from another copy of the package by name', () => {
    const foreign = Object.assign(new Error('no'), { name: 'PermanentError', errorCode: 'nope' });
    expect(classifyStepError(foreign)).toMatchObject({ outcome: 'permanent_error', errorCode: 'nope' });
  });

  it('caps the message at 2000 characters', () => {
    const { message } = classifyStepError(new Error('x'.repeat(5000)));
    expect(message).toHaveLength(2000);
    expect(message.endsWith('…')).toBe(true);
  });
});
