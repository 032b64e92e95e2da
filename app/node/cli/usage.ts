/** Usage errors: exit 2 with the command's usage line. A leaf module, so commands can import it without a cycle. */
import { AppError } from '../../errors.ts';

export const PROGRAM = 'model-vault';

export function usageError(usage: string, problem: string): AppError {
  return new AppError('VALIDATION', `usage: ${PROGRAM} ${usage} (${problem})`);
}
