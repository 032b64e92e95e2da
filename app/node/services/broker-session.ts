/**
 * The app's broker session: the one place the main-process services (producer publish, subscriber enrollment,
 * licences, import, key release for mounts) get a broker from.
 *
 * - **Which broker.** `config.broker` (app/node/config.ts) decides. `remote`: the URL from MODEL_VAULT_BROKER_URL.
 *   `embedded`: the broker runs in this process on 127.0.0.1 (port 0, a free port), started on first use with the
 *   SQLite database in the data directory, and stopped by `close()` when the host (Electron or the web host) shuts
 *   down. The embedded broker's key-encryption key comes from MV_BROKER_KEK_FILE / MV_BROKER_KEK when set, else from
 *   `<data dir>/broker/embedded-kek` (0600, created on first start); its bootstrap secret is random per process and
 *   never leaves it, so only this app can enroll the embedded broker's first producer. Subscribers enroll openly.
 * - **Who we are.** One device profile per role (app/node/broker/profile.ts): `<data dir>/broker/producer.json` and
 *   `subscriber.json`; a CLI profile (`device.json`) is used for the role it was enrolled in when the app has none.
 *   The profile files hold only public data; device keys are in the key store.
 * - **Clients.** `withDevice(role, fn)` unlocks the role's device key from the key store, hands `fn` a signing
 *   `BrokerClient` (and the device's box key pair, for key release), and wipes the key when `fn` settles.
 *
 * Nothing here returns key bytes; callers get profiles (public data) and the results of broker calls.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../../errors.ts';
import { randomBytes } from '../../crypto/random.ts';
import { toB64url } from '../../crypto/encoding.ts';
import type { BrokerClient } from '../../broker/client.ts';
import type { BoxKeyPair } from '../../broker/seal.ts';
import type { AppConfig } from '../config.ts';
import { loadKek, newKekText, parseKekText, type Kek } from '../broker/kek.ts';
import {
  appProfilePath, cliProfilePath, enrollDevice, forgetDevice, openDevice, readProfile, unlockedFileStore,
  type DeviceProfile, type DeviceRole, type KeyStoreOptions,
} from '../broker/profile.ts';
import { startBroker, type RunningBroker } from '../broker/start.ts';
import { readTextIfExists, writeFileAtomic } from '../atomic.ts';
import { FileKeyStore } from '../keys/file-keystore.ts';
import { keystorePath, scryptParams, type Env } from '../keys/paths.ts';
import { log } from '../log.ts';

export interface BrokerSessionOptions {
  readonly config: AppConfig;
  readonly env: Env;
  /** How to open the key store (e.g. with a passphrase the user gave this session); default `{ env }`. */
  readonly storeOptions?: () => KeyStoreOptions;
}

export interface BrokerEndpoint {
  readonly mode: 'embedded' | 'remote';
  readonly url: string;
}

export interface EnrollRequest {
  readonly name: string;
  readonly label: string;
  readonly invite?: string;
  readonly bootstrap?: string;
}

export interface UnlockedDevice {
  readonly profile: DeviceProfile;
  readonly client: BrokerClient;
  readonly box: BoxKeyPair;
}

export class BrokerSession {
  readonly #o: BrokerSessionOptions;
  #embedded: Promise<RunningBroker> | undefined;
  #fileStore: FileKeyStore | undefined;
  #bootstrap: string | undefined;
  #closed = false;

  constructor(o: BrokerSessionOptions) {
    this.#o = o;
  }

  get mode(): 'embedded' | 'remote' {
    return this.#o.config.broker.mode;
  }

  #storeOptions(): KeyStoreOptions {
    const o = this.#o.storeOptions?.() ?? { env: this.#o.env };
    return o.fileStore === undefined && this.#fileStore !== undefined ? { ...o, fileStore: this.#fileStore } : o;
  }

  /**
   * Unlocks (or creates) the encrypted file keystore for this session, for machines without a keychain; only the
   * derived key is kept (inside FileKeyStore), never the passphrase. A wrong passphrase leaves the session as it was.
   */
  async unlockFileKeystore(passphrase: string): Promise<FileKeyStore> {
    const path = keystorePath(this.#o.env);
    const store = (await readTextIfExists(path)) === undefined ? await FileKeyStore.create(path, passphrase, { params: scryptParams(this.#o.env) }) : await FileKeyStore.open(path, { passphrase });
    this.#fileStore = store;
    return store;
  }

  /** Adopts a file keystore another service unlocked (e.g. with MODEL_VAULT_PASSPHRASE), so it is asked for once. */
  useFileKeystore(store: FileKeyStore): void {
    if (store.unlocked) this.#fileStore = store;
  }

  /**
   * The file keystore this session unlocked (undefined while locked): the one unlocked keystore of the process, which
   * the security view's key stores (./security/stores.ts) and the broker's device keys share, so a user without a
   * keychain gives the passphrase once, in either view. Stays inside app/node: it holds the derived key.
   */
  unlockedFileKeystore(): FileKeyStore | undefined {
    return unlockedFileStore(this.#fileStore, this.#o.env);
  }

  /**
   * Where the role's device key is (or a new one would go), and whether it needs the file keystore's passphrase
   * first. `keychainAvailable` is the host's keychain probe (asked only when no profile says where the key is).
   */
  async keyStoreState(role: DeviceRole, keychainAvailable: () => Promise<boolean>): Promise<{ readonly kind: 'keychain' | 'file'; readonly locked: boolean }> {
    const found = await this.profile(role).catch(() => undefined);
    const kind = found?.profile.keyStore ?? (this.#o.env.MODEL_VAULT_STORE !== 'file' && (await keychainAvailable()) ? 'keychain' : 'file');
    if (kind === 'keychain') return { kind, locked: false };
    const o = this.#storeOptions();
    const unlocked = unlockedFileStore(o.fileStore, this.#o.env) !== undefined || (o.passphrase ?? this.#o.env.MODEL_VAULT_PASSPHRASE ?? '') !== '';
    return { kind, locked: !unlocked };
  }

  async #embeddedKek(): Promise<Kek> {
    const env = this.#o.env;
    if ((env.MV_BROKER_KEK_FILE ?? '') !== '' || (env.MV_BROKER_KEK ?? '') !== '') return loadKek({ env });
    const path = join(this.#o.config.dataDir, 'broker', 'embedded-kek');
    let text = await readTextIfExists(path);
    if (text === undefined) {
      await fs.mkdir(join(this.#o.config.dataDir, 'broker'), { recursive: true, mode: 0o700 });
      text = newKekText();
      await writeFileAtomic(path, text + '\n', { mode: 0o600 });
    }
    return parseKekText(text.trim());
  }

  async #startEmbedded(): Promise<RunningBroker> {
    const kek = await this.#embeddedKek();
    this.#bootstrap = toB64url(randomBytes(32));
    await fs.mkdir(this.#o.config.dataDir, { recursive: true, mode: 0o700 });
    const broker = await startBroker({ dbSpec: this.#o.config.broker.location, kek, bootstrapSecret: this.#bootstrap, port: 0, host: '127.0.0.1' });
    log.info('embedded broker started', { port: broker.port });
    return broker;
  }

  /** The broker's address; in embedded mode this starts the broker on first use. */
  async endpoint(): Promise<BrokerEndpoint> {
    if (this.#closed) throw new AppError('CANCELLED', 'Model Vault is shutting down: the broker session is closed.');
    if (this.#o.config.broker.mode === 'remote') return { mode: 'remote', url: this.#o.config.broker.location };
    const p = (this.#embedded ??= this.#startEmbedded());
    p.catch(() => {
      if (this.#embedded === p) this.#embedded = undefined;
    });
    return { mode: 'embedded', url: (await p).url };
  }

  /** Where the app keeps this role's profile. */
  profilePath(role: DeviceRole): string {
    return appProfilePath(this.#o.config.dataDir, role);
  }

  /** The role's profile: the app's own, else the CLI's when it was enrolled for this role; undefined if none. */
  async profile(role: DeviceRole): Promise<{ readonly path: string; readonly profile: DeviceProfile } | undefined> {
    const own = this.profilePath(role);
    const p = await readProfile(own);
    if (p !== undefined) return { path: own, profile: p };
    const cli = cliProfilePath(this.#o.config.dataDir);
    const c = await readProfile(cli).catch(() => undefined);
    return c?.role === role ? { path: cli, profile: c } : undefined;
  }

  /**
   * Enrolls this machine for a role: a new device key in the key store, the broker's enrollment, the profile file.
   * With the embedded broker, the first producer is enrolled with the session's own bootstrap secret.
   */
  async enroll(role: DeviceRole, r: EnrollRequest): Promise<DeviceProfile> {
    const existing = await this.profile(role);
    if (existing !== undefined) throw new AppError('ALREADY_EXISTS', `This machine is already enrolled as ${role} "${existing.profile.name}" with ${existing.profile.brokerId}. Leave that enrollment first.`);
    const { url, mode } = await this.endpoint();
    const bootstrap = r.bootstrap ?? (mode === 'embedded' && role === 'producer' && r.invite === undefined ? this.#bootstrap : undefined);
    const { profile } = await enrollDevice({
      ...this.#storeOptions(), path: this.profilePath(role), brokerUrl: url, name: r.name, role, label: r.label,
      ...(bootstrap === undefined ? {} : { bootstrap }), ...(r.invite === undefined ? {} : { invite: r.invite }),
    });
    return profile;
  }

  /** Forgets the role's enrollment on this machine (the caller revokes the device at the broker first). */
  async forget(role: DeviceRole): Promise<void> {
    const p = await this.profile(role);
    if (p !== undefined) await forgetDevice(p.path, p.profile, this.#storeOptions());
  }

  /** Runs `fn` with the role's device unlocked; the device key is wiped when `fn` settles. */
  async withDevice<T>(role: DeviceRole, fn: (d: UnlockedDevice) => Promise<T>): Promise<T> {
    const found = await this.profile(role);
    if (found === undefined) throw new AppError('NOT_FOUND', `This machine is not enrolled as a ${role} yet: enroll it with the broker first.`);
    if (found.profile.brokerUrl !== (await this.endpoint()).url && this.mode === 'remote') {
      throw new AppError('VALIDATION', `This ${role} enrollment belongs to ${found.profile.brokerUrl}, but Model Vault is set to use ${this.#o.config.broker.location}. Change MODEL_VAULT_BROKER_URL back or leave the enrollment and enroll again.`);
    }
    const device = await openDevice(await this.#rebased(found.profile), this.#storeOptions());
    try {
      return await fn({ profile: found.profile, client: device.client, box: device.box });
    } finally {
      device.close();
    }
  }

  /** The embedded broker listens on a new port every start: the profile's URL is replaced by the current one. */
  async #rebased(p: DeviceProfile): Promise<DeviceProfile> {
    if (this.mode === 'remote') return p;
    return { ...p, brokerUrl: (await this.endpoint()).url };
  }

  /** Stops the embedded broker (if it was started). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const p = this.#embedded;
    this.#embedded = undefined;
    if (p === undefined) return;
    const broker = await p.catch(() => undefined);
    await broker?.close();
  }
}

const sessions = new WeakMap<object, BrokerSession>();

/**
 * The session for a set of service dependencies: the one the host passed in, else one created on first use and
 * shared by every service built from the same dependencies object.
 */
export function brokerSessionOf(deps: { readonly config: AppConfig; readonly env?: Env; readonly brokerSession?: BrokerSession }): BrokerSession {
  if (deps.brokerSession !== undefined) return deps.brokerSession;
  let s = sessions.get(deps);
  if (s === undefined) {
    s = new BrokerSession({ config: deps.config, env: deps.env ?? process.env });
    sessions.set(deps, s);
  }
  return s;
}
