/** Shared helpers for the keys tests. */
import { isAppError } from '../../../app/errors.ts';

/** The AppError code a call throws, or 'no error'; anything else is rethrown. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isAppError(e)) return e.code;
    throw e;
  }
  return 'no error';
}
