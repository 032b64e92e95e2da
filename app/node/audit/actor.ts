/** Who is acting, for the audit log: MODEL_VAULT_ACTOR, else the OS user name (the CLI and the app's services). */
import { userInfo } from 'node:os';
import type { Env } from '../keys/paths.ts';

export function actorFromEnv(env: Env): string {
  const explicit = env.MODEL_VAULT_ACTOR;
  if (explicit !== undefined && explicit !== '') return explicit.slice(0, 200);
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}
