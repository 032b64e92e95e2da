/**
 * The OS keychain adapter behind `KeyStore` (STYLE §1: keytar lives in this one file so the archived package is easy
 * to swap). macOS Keychain, Windows Credential Manager, Linux Secret Service (gnome-keyring, KWallet).
 *
 * Each key is one credential: service `model-vault`, account = `key:<kid>`, secret = `encodeStoredKey(…)` (the
 * reference-dialect JWK plus metadata). The `key:` prefix leaves room for other credentials under the same service;
 * `list` ignores accounts without it.
 *
 * Availability: keytar is loaded lazily and the keychain is probed once (`findCredentials` with a timeout). If the
 * native module is missing, there is no D-Bus session, no Secret Service, or the keyring is locked and cannot be
 * unlocked, we raise KEYCHAIN_UNAVAILABLE with the reason and point to the encrypted file keystore.
 */
import { AppError, isAppError } from '../../errors.ts';
import { decodeStoredKey, encodeStoredKey, requireKid, storedKeyInfo, type KeyStore, type KeyStoreInfo, type StoredKey, type StoredKeyInfo } from '../../keys/keystore.ts';

export const KEYCHAIN_SERVICE = 'model-vault';
export const KEY_ACCOUNT_PREFIX = 'key:';
const account = (kid: string): string => KEY_ACCOUNT_PREFIX + kid;
const DEFAULT_TIMEOUT_MS = 15_000;

interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
  findCredentials(service: string): Promise<{ account: string; password: string }[]>;
}

export type KeychainStatus = { readonly available: true } | { readonly available: false; readonly reason: string };

/** The message of a keychain failure, trimmed to one line; these come from the OS and never contain our secrets. */
function reasonOf(e: unknown): string {
  const raw = e instanceof Error ? e.message : String(e);
  const line = raw.split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line || 'unknown error';
}

export function keychainUnavailable(reason: string): AppError {
  return new AppError(
    'KEYCHAIN_UNAVAILABLE',
    `The OS keychain is not available (${reason}). Use the encrypted file keystore instead: pass --store file ` +
      '(it asks for a passphrase; the file is MODEL_VAULT_KEYSTORE or ~/.config/model-vault/keystore.json). ' +
      'On Linux the keychain needs a D-Bus session with an unlocked Secret Service (gnome-keyring or KWallet).',
  );
}

let keytarPromise: Promise<Keytar> | undefined;

async function loadKeytar(): Promise<Keytar> {
  keytarPromise ??= import('keytar').then(
    (m: { default?: Keytar } & Partial<Keytar>) => (m.default ?? (m as Keytar)),
    (e: unknown) => {
      keytarPromise = undefined;
      throw keychainUnavailable(`the keytar native module could not be loaded: ${reasonOf(e)}`);
    },
  );
  return keytarPromise;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(keychainUnavailable(`${what} did not answer within ${Math.round(ms / 1000)} s; the keyring may be locked`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export class KeychainKeyStore implements KeyStore {
  readonly info: KeyStoreInfo;
  readonly #keytar: Keytar;
  readonly #service: string;
  readonly #timeoutMs: number;

  private constructor(keytar: Keytar, service: string, timeoutMs: number) {
    this.#keytar = keytar;
    this.#service = service;
    this.#timeoutMs = timeoutMs;
    this.info = { kind: 'keychain', location: `OS keychain, service "${service}"` };
  }

  /** Loads keytar and probes the keychain; throws KEYCHAIN_UNAVAILABLE (with the reason) if it cannot be used. */
  static async open(opts: { service?: string; timeoutMs?: number } = {}): Promise<KeychainKeyStore> {
    const keytar = await loadKeytar();
    const store = new KeychainKeyStore(keytar, opts.service ?? KEYCHAIN_SERVICE, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    await store.#call(() => keytar.findCredentials(store.#service), 'the keychain');
    return store;
  }

  async #call<T>(fn: () => Promise<T>, what: string): Promise<T> {
    try {
      return await withTimeout(fn(), this.#timeoutMs, what);
    } catch (e) {
      if (isAppError(e)) throw e;
      throw keychainUnavailable(reasonOf(e));
    }
  }

  async list(): Promise<StoredKeyInfo[]> {
    const creds = await this.#call(() => this.#keytar.findCredentials(this.#service), 'the keychain');
    return creds
      .filter((c) => c.account.startsWith(KEY_ACCOUNT_PREFIX))
      .map((c) => storedKeyInfo(decodeStoredKey(c.password, `keychain entry ${c.account}`)))
      .sort((a, b) => (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0));
  }

  async get(kid: string): Promise<StoredKey | undefined> {
    const text = await this.#call(() => this.#keytar.getPassword(this.#service, account(kid)), 'the keychain');
    return text === null ? undefined : decodeStoredKey(text, `keychain entry ${kid}`);
  }

  async put(stored: StoredKey, opts: { overwrite?: boolean } = {}): Promise<void> {
    const kid = requireKid(stored.key);
    if (opts.overwrite !== true && (await this.get(kid)) !== undefined) {
      throw new AppError('ALREADY_EXISTS', `A key with kid "${kid}" is already in the keychain. Delete it first or choose another kid.`);
    }
    const record = encodeStoredKey(stored);
    await this.#call(() => this.#keytar.setPassword(this.#service, account(kid), record), 'the keychain');
  }

  async delete(kid: string): Promise<boolean> {
    return this.#call(() => this.#keytar.deletePassword(this.#service, account(kid)), 'the keychain');
  }
}

/** Whether the keychain can be used right now, and if not, why. Never throws. */
export async function keychainStatus(opts: { service?: string; timeoutMs?: number } = {}): Promise<KeychainStatus> {
  try {
    await KeychainKeyStore.open(opts);
    return { available: true };
  } catch (e) {
    return { available: false, reason: isAppError(e) ? e.message : reasonOf(e) };
  }
}
