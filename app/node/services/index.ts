/**
 * The main-process services: one handler per contract operation. Both hosts (Electron's ipcMain and the loopback
 * web host) dispatch to these through the same router. Each area's handlers live in their own module, next to the
 * area's operation table in app/ipc/ops/.
 */
import type { AppStatus, KeychainStatus } from '../../ipc/contract.ts';
import type { AppConfig } from '../config.ts';
import type { Env } from '../keys/paths.ts';
import { type Handlers, type Router, createRouter } from '../router.ts';
import type { BrokerSession } from './broker-session.ts';
import { createMountHandlers, type MountService } from './mount.ts';
import { createProducerHandlers } from './producer.ts';
import { createSecurityHandlers } from './security.ts';
import { getStatus } from './status.ts';
import { createSubscriberHandlers } from './subscriber.ts';

export interface ServiceDeps {
  readonly config: AppConfig;
  readonly host: AppStatus['host'];
  readonly probeKeychain: () => Promise<KeychainStatus>;
  /** The environment the services read key sources and paths from (default: process.env). */
  readonly env?: Env;
  /**
   * The broker session the producer and subscriber services share (./broker-session.ts). Hosts pass one and close it
   * when they shut down (that stops the embedded broker); without one, a session is created on first use.
   */
  readonly brokerSession?: BrokerSession;
  /** The mounts this host serves (./mount.ts); hosts close it when they shut down, which unmounts them all. */
  readonly mounts?: MountService;
}

export function createHandlers(deps: ServiceDeps): Handlers {
  return {
    'app:status': async () => getStatus(deps),
    ...createProducerHandlers(deps),
    ...createSubscriberHandlers(deps),
    ...createSecurityHandlers(deps),
    ...createMountHandlers(deps),
  };
}

export function createServiceRouter(deps: ServiceDeps): Router {
  return createRouter(createHandlers(deps));
}
