/**
 * Where the app keeps its data and which broker it talks to. Every default can be overridden by the environment:
 *
 * | variable                 | meaning                                                        | default                         |
 * | ------------------------ | -------------------------------------------------------------- | ------------------------------- |
 * | `MODEL_VAULT_HOME`       | data directory (keystore, trust store, audit log, broker DB)    | per-OS application data folder |
 * | `MODEL_VAULT_BROKER_URL` | a remote broker (`https://…`, or `http://127.0.0.1:…` locally)  | the embedded SQLite broker      |
 */
import { homedir, platform } from 'node:os';
import { join, resolve } from 'node:path';
import { AppError } from '../errors.ts';
import type { BrokerStatus } from '../ipc/contract.ts';

export interface AppConfig {
  readonly dataDir: string;
  readonly broker: BrokerStatus;
}

export function defaultDataDir(env: Readonly<Record<string, string | undefined>>): string {
  const explicit = env.MODEL_VAULT_HOME;
  if (explicit !== undefined && explicit !== '') return resolve(explicit);
  const home = homedir();
  switch (platform()) {
    case 'darwin':
      return join(home, 'Library', 'Application Support', 'Model Vault');
    case 'win32':
      return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'Model Vault');
    default: {
      const xdg = env.XDG_DATA_HOME;
      return join(xdg !== undefined && xdg !== '' ? xdg : join(home, '.local', 'share'), 'model-vault');
    }
  }
}

export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): AppConfig {
  const dataDir = defaultDataDir(env);
  const brokerUrl = env.MODEL_VAULT_BROKER_URL;
  if (brokerUrl !== undefined && brokerUrl !== '') {
    let url: URL;
    try {
      url = new URL(brokerUrl);
    } catch {
      throw new AppError('VALIDATION', 'MODEL_VAULT_BROKER_URL is not a valid URL: set it to the broker address, e.g. https://broker.example.com, or unset it to use the embedded broker.');
    }
    const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
      throw new AppError('VALIDATION', 'MODEL_VAULT_BROKER_URL must use https (plain http is accepted only for a broker on this machine).');
    }
    return { dataDir, broker: { mode: 'remote', location: url.origin } };
  }
  return { dataDir, broker: { mode: 'embedded', location: join(dataDir, 'broker.sqlite') } };
}
