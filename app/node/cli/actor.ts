/** The acting user recorded in audit entries by the CLI. */
import { actorFromEnv } from '../audit/actor.ts';
import type { CliIo } from './types.ts';

/** Who is acting, for the audit log: MODEL_VAULT_ACTOR, else the OS user name. */
export function actorOf(io: CliIo): string {
  return actorFromEnv(io.env);
}
