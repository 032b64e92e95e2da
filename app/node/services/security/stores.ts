/**
 * The key stores the security view works with: the OS keychain (when a Secret Service / Keychain is reachable) and
 * the encrypted file keystore (MODEL_VAULT_KEYSTORE). The file keystore is unlocked for this session either by
 * MODEL_VAULT_PASSPHRASE or by `security:unlock` (or the subscriber view's unlock: the broker session keeps the one unlocked
 * keystore of the process, see SharedFileKeystore); only the derived key is kept inside FileKeyStore, never
 * the passphrase. Nothing here returns key bytes to a caller outside app/node.
 */
import { promises as fs } from 'node:fs';
import { AppError, isAppError } from '../../../errors.ts';
import type { KeyMaterial, MasterKey, SigningKey } from '../../../keys/key.ts';
import type { KeyStore, StoredKeyInfo } from '../../../keys/keystore.ts';
import type { KeyStoreState, StoreKind } from '../../../ipc/ops/security.ts';
import type { KeychainStatus } from '../../../ipc/contract.ts';
import { FileKeyStore } from '../../keys/file-keystore.ts';
import { KeychainKeyStore, keychainUnavailable } from '../../keys/keychain-keystore.ts';
import { keystorePath, scryptParams, type Env } from '../../keys/paths.ts';
import { environmentKeySources, resolveKey, type EnvironmentKeySource, type KeyUse } from '../../keys/sources.ts';

export interface ListedKey extends StoredKeyInfo {
  readonly store: StoreKind;
}

/**
 * Where the process keeps its one unlocked file keystore: the broker session (../broker-session.ts), so the security
 * view and the broker's device keys share one unlock.
 */
export interface SharedFileKeystore {
  unlockFileKeystore(passphrase: string): Promise<FileKeyStore>;
  unlockedFileKeystore(): FileKeyStore | undefined;
  useFileKeystore(store: FileKeyStore): void;
}

export class SecurityStores {
  readonly #env: Env;
  readonly #probe: () => Promise<KeychainStatus>;
  readonly #shared: SharedFileKeystore;
  #keychain: Promise<KeychainKeyStore> | undefined;

  constructor(env: Env, probeKeychain: () => Promise<KeychainStatus>, shared: SharedFileKeystore) {
    this.#env = env;
    this.#probe = probeKeychain;
    this.#shared = shared;
  }

  get filePath(): string {
    return keystorePath(this.#env);
  }

  /** The keychain store; a failed open is not cached, so a keychain unlocked later is picked up. */
  keychain(): Promise<KeychainKeyStore> {
    // Without a session bus libsecret may try to start one and wait: answer at once, as the status probe does.
    if (process.platform === 'linux' && (process.env.DBUS_SESSION_BUS_ADDRESS ?? '') === '') return Promise.reject(keychainUnavailable('no D-Bus session bus'));
    const p = (this.#keychain ??= KeychainKeyStore.open());
    p.catch(() => {
      if (this.#keychain === p) this.#keychain = undefined;
    });
    return p;
  }

  async #fileExists(): Promise<boolean> {
    return fs.stat(this.filePath).then((s) => s.isFile(), () => false);
  }

  /** The file keystore: unlocked if this session unlocked it or MODEL_VAULT_PASSPHRASE is set, else locked; undefined if absent. */
  async file(): Promise<FileKeyStore | undefined> {
    const open = this.#shared.unlockedFileKeystore();
    if (open !== undefined) return open;
    if (!(await this.#fileExists())) return undefined;
    const pw = this.#env.MODEL_VAULT_PASSPHRASE;
    if (pw !== undefined && pw !== '') {
      const f = await FileKeyStore.open(this.filePath, { passphrase: pw });
      this.#shared.useFileKeystore(f);
      return f;
    }
    return FileKeyStore.open(this.filePath);
  }

  /** Unlocks (or creates, when there is none yet) the file keystore with this passphrase for the whole process. */
  async unlock(passphrase: string): Promise<FileKeyStore> {
    return this.#shared.unlockFileKeystore(passphrase);
  }

  async states(): Promise<KeyStoreState[]> {
    const kc = await this.#probe();
    const keychain: KeyStoreState = { kind: 'keychain', location: 'OS keychain, service "model-vault"', available: kc.available, exists: kc.available, locked: false, ...(kc.reason === undefined ? {} : { reason: kc.reason }) };
    const exists = await this.#fileExists();
    const f = exists ? await this.file().catch(() => undefined) : undefined;
    const file: KeyStoreState = {
      kind: 'file',
      location: this.filePath,
      available: true,
      exists,
      locked: exists && f?.unlocked !== true,
      ...(exists ? {} : { reason: 'No keystore file yet. Set one up, with a passphrase of 8 characters or more, to keep keys where there is no OS keychain.' }),
    };
    return [keychain, file];
  }

  /** Every key in every reachable store (the locked file keystore still lists its keys). */
  async list(): Promise<ListedKey[]> {
    const out: ListedKey[] = [];
    try {
      for (const k of await (await this.keychain()).list()) out.push({ ...k, store: 'keychain' });
    } catch (e) {
      if (!isAppError(e) || e.code !== 'KEYCHAIN_UNAVAILABLE') throw e;
    }
    const f = await this.file();
    if (f !== undefined) for (const k of await f.list()) out.push({ ...k, store: 'file' });
    return out;
  }

  /** The keys the environment supplies (MODEL_VAULT_KEYS, MODEL_VAULT_KEYS_FILE, CRYPTOTENSOR_KEYS), described only. */
  environment(): Promise<EnvironmentKeySource[]> {
    return environmentKeySources(this.#env);
  }

  /** A store to write a new key into. */
  async writable(kind: StoreKind): Promise<KeyStore> {
    if (kind === 'keychain') return this.keychain();
    const f = await this.file();
    if (f?.unlocked === true) return f;
    const pw = this.#env.MODEL_VAULT_PASSPHRASE;
    if (pw !== undefined && pw !== '') {
      const created = await FileKeyStore.openOrCreate(this.filePath, pw, { params: scryptParams(this.#env) });
      this.#shared.useFileKeystore(created);
      return created;
    }
    throw new AppError('KEYSTORE_LOCKED', 'The file keystore is locked: unlock it with its passphrase first (Keys → Unlock file keystore).');
  }

  /** A key by kid, from the keychain, then the file keystore, then the environment (app/node/keys/sources.ts). */
  async load(kid: string, use: 'master'): Promise<MasterKey>;
  async load(kid: string, use: 'signing' | 'verify'): Promise<SigningKey>;
  async load(kid: string, use: KeyUse): Promise<KeyMaterial> {
    const file = await this.file().catch(() => undefined);
    const r = await resolveKey({ use, kid }, { keychain: () => this.keychain(), ...(file === undefined ? {} : { keystoreFile: file }), env: this.#env });
    return r.key;
  }
}
