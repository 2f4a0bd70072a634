import type { OutcomeResult } from '@switchyard/db';

/**
 * What became of a step's success: recorded, or refused (a permanent error of the attempt, with
 * its code), as each step type's recorder reports it (see record-success.ts).
 */
export type SuccessRecording =
  | { kind: 'recorded'; result: OutcomeResult }
  | { kind: 'refused'; message: string; errorCode: string; cause?: unknown };
