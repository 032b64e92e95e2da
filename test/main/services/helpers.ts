/** Helpers shared by the service tests. */
import assert from 'node:assert/strict';
import { isAppError } from '../../../app/errors.ts';

/** The AppError code a promise rejects with ('no error' when it resolves); anything but an AppError fails the test. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(isAppError(e), `expected an AppError, got ${String(e)}`);
    return e.code;
  }
  return 'no error';
}
