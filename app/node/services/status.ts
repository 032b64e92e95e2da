/** `app:status`: what the home screen shows. */
import { platform, arch } from 'node:os';
import { APP_NAME, APP_VERSION } from '../../version.ts';
import type { AppStatus, KeychainStatus } from '../../ipc/contract.ts';
import type { AppConfig } from '../config.ts';

export interface StatusDeps {
  readonly config: AppConfig;
  readonly host: AppStatus['host'];
  readonly probeKeychain: () => Promise<KeychainStatus>;
}

export async function getStatus(deps: StatusDeps): Promise<AppStatus> {
  return {
    name: APP_NAME,
    version: APP_VERSION,
    dataDir: deps.config.dataDir,
    keychain: await deps.probeKeychain(),
    broker: deps.config.broker,
    host: deps.host,
    platform: `${platform()}-${arch()}`,
    runtime: `Node ${process.versions.node}`,
  };
}
