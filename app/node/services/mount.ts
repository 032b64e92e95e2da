/** Handlers of the mount operations (app/ipc/ops/mount.ts). */
import type { MOUNT_OPERATIONS } from '../../ipc/ops/mount.ts';
import type { HandlersOf } from '../router.ts';
import type { ServiceDeps } from './index.ts';

export function createMountHandlers(_deps: ServiceDeps): HandlersOf<typeof MOUNT_OPERATIONS> {
  return {};
}
