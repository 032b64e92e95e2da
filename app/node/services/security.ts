/** Handlers of the security operations (app/ipc/ops/security.ts). */
import type { SECURITY_OPERATIONS } from '../../ipc/ops/security.ts';
import type { HandlersOf } from '../router.ts';
import type { ServiceDeps } from './index.ts';

export function createSecurityHandlers(_deps: ServiceDeps): HandlersOf<typeof SECURITY_OPERATIONS> {
  return {};
}
