/** The acting user recorded in audit entries by the CLI. */
import { userInfo } from 'node:os';
import type { CliIo } from './types.ts';

/** Who is acting, for the audit log: MODEL_VAULT_ACTOR, else the OS user name. */
export function actorOf(io: CliIo): string {
  const explicit = io.env.MODEL_VAULT_ACTOR;
  if (explicit !== undefined && explicit !== '') return explicit.slice(0, 200);
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}
