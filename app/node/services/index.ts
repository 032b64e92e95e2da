/**
 * The main-process services: one handler per contract operation. Both hosts (Electron's ipcMain and the loopback
 * web host) dispatch to these through the same router.
 */
import type { AppStatus, KeychainStatus } from '../../ipc/contract.ts';
import type { AppConfig } from '../config.ts';
import { type Handlers, type Router, createRouter } from '../router.ts';
import { getStatus } from './status.ts';

export interface ServiceDeps {
  readonly config: AppConfig;
  readonly host: AppStatus['host'];
  readonly probeKeychain: () => Promise<KeychainStatus>;
}

export function createHandlers(deps: ServiceDeps): Handlers {
  return {
    'app:status': async () => getStatus(deps),
  };
}

export function createServiceRouter(deps: ServiceDeps): Router {
  return createRouter(createHandlers(deps));
}
