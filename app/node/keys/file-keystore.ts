/**
 * The encrypted file keystore, for headless and air-gapped machines where no OS keychain exists.
 *
 * One JSON file (a passphrase envelope, `app/keys/passphrase-envelope.ts`, format `model-vault/keystore`):
 * - KEK = scrypt(passphrase, salt) (default N = 2^17, r = 8, p = 1), derived once per process when unlocking;
 * - the plaintext `{"keys":[<stored key record>, …]}` is sealed with XChaCha20-Poly1305 under a fresh random nonce on
 *   every write; the non-secret key list (kid, kind, alg, fingerprint, metadata) is in the authenticated `public`
 *   part, so `list` works while the store is locked;
 * - every change is a locked read-modify-write (`<file>.lock`), written atomically (temp file, fsync, rename, fsync
 *   of the folder) with mode 0600 in a 0700 folder.
 */
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { fromUtf8, utf8 } from '../../crypto/bytes.ts';
import { AppError } from '../../errors.ts';
import type { CanonicalValue } from '../../keys/canonical-json.ts';
import { decodeStoredKey, encodeStoredKey, requireKid, storedKeyInfo, type KeyStore, type KeyStoreInfo, type StoredKey, type StoredKeyInfo } from '../../keys/keystore.ts';
import { checkNewPassphrase, deriveKek, type Envelope, type Kek, newKek, openWithKek, parseEnvelope, type ScryptParams, sealWithKek } from '../../keys/passphrase-envelope.ts';
import { readTextIfExists, withFileLock, writeFileAtomic } from '../atomic.ts';

export const KEYSTORE_FORMAT = 'model-vault/keystore';
const WHAT = 'the keystore file';

interface Contents {
  readonly records: StoredKey[];
}

function publicPart(records: readonly StoredKey[]): { readonly [key: string]: CanonicalValue } {
  return { keys: records.map((r) => JSON.parse(JSON.stringify(storedKeyInfo(r))) as CanonicalValue) };
}

function decodeContents(plaintext: Uint8Array): Contents {
  let doc: unknown;
  try {
    doc = JSON.parse(fromUtf8(plaintext));
  } catch {
    throw new AppError('VALIDATION', 'The keystore file decrypted but its contents are not valid. Restore it from a backup.');
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw new AppError('VALIDATION', 'The keystore file decrypted but its contents are not valid. Restore it from a backup.');
  return { records: (keys).map((k, i) => decodeStoredKey(k, `keystore entry ${i + 1}`)) };
}

function encodeContents(c: Contents): Uint8Array {
  return utf8(JSON.stringify({ keys: c.records.map(encodeStoredKey) }));
}

export class FileKeyStore implements KeyStore {
  readonly info: KeyStoreInfo;
  readonly path: string;
  #kek: Kek | undefined;

  private constructor(path: string, kek: Kek | undefined) {
    this.path = path;
    this.#kek = kek;
    this.info = { kind: 'file', location: path };
  }

  get unlocked(): boolean {
    return this.#kek !== undefined;
  }

  /** Creates a new, empty keystore file. Fails with ALREADY_EXISTS if the file exists. */
  static async create(path: string, passphrase: string, opts: { params?: ScryptParams } = {}): Promise<FileKeyStore> {
    checkNewPassphrase(passphrase);
    await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const kek = await newKek(passphrase, opts.params);
    const store = new FileKeyStore(path, kek);
    await withFileLock(path, async () => {
      if ((await readTextIfExists(path)) !== undefined) throw new AppError('ALREADY_EXISTS', `A keystore already exists at ${path}. Open it with its passphrase, or choose another path.`);
      await store.#write({ records: [] });
    });
    return store;
  }

  /**
   * Opens an existing keystore. With a passphrase it is unlocked (and the passphrase checked now); without one it
   * is locked: `list` works, reading or changing keys raises KEYSTORE_LOCKED.
   */
  static async open(path: string, opts: { passphrase?: string } = {}): Promise<FileKeyStore> {
    const env = await FileKeyStore.#readEnvelope(path);
    if (opts.passphrase === undefined) return new FileKeyStore(path, undefined);
    const kek = await deriveKek(opts.passphrase, env.kdf);
    openWithKek(kek, env, WHAT).fill(0); // checks the passphrase now
    return new FileKeyStore(path, kek);
  }

  /** Opens the keystore, creating it (with this passphrase) if the file does not exist yet. */
  static async openOrCreate(path: string, passphrase: string, opts: { params?: ScryptParams } = {}): Promise<FileKeyStore> {
    if ((await readTextIfExists(path)) === undefined) {
      try {
        return await FileKeyStore.create(path, passphrase, opts);
      } catch (e) {
        if ((e as { code?: unknown }).code !== 'ALREADY_EXISTS') throw e; // lost a creation race: open it instead
      }
    }
    return FileKeyStore.open(path, { passphrase });
  }

  static async #readEnvelope(path: string): Promise<Envelope> {
    const text = await readTextIfExists(path);
    if (text === undefined) throw new AppError('NOT_FOUND', `No keystore file at ${path}. Create one with "model-vault keys new --store file".`);
    return parseEnvelope(text, KEYSTORE_FORMAT, WHAT);
  }

  /** Forgets the derived key. */
  lock(): void {
    this.#kek?.key.fill(0);
    this.#kek = undefined;
  }

  #requireKek(): Kek {
    if (this.#kek === undefined) throw new AppError('KEYSTORE_LOCKED', `The keystore ${this.path} is locked: give its passphrase (--passphrase-file <file> or MODEL_VAULT_PASSPHRASE).`);
    return this.#kek;
  }

  async #read(): Promise<Contents> {
    const env = await FileKeyStore.#readEnvelope(this.path);
    const kek = this.#requireKek();
    if (env.kdf.salt !== kek.kdf.salt || env.kdf.N !== kek.kdf.N || env.kdf.r !== kek.kdf.r || env.kdf.p !== kek.kdf.p) {
      throw new AppError('PASSPHRASE_WRONG', `The keystore ${this.path} was re-encrypted by another process (new passphrase?). Open it again.`);
    }
    const plaintext = openWithKek(kek, env, WHAT);
    try {
      return decodeContents(plaintext);
    } finally {
      plaintext.fill(0);
    }
  }

  async #write(c: Contents, kek: Kek = this.#requireKek()): Promise<void> {
    const plaintext = encodeContents(c);
    try {
      const env = sealWithKek(kek, KEYSTORE_FORMAT, publicPart(c.records), plaintext);
      await writeFileAtomic(this.path, JSON.stringify(env, null, 2) + '\n', { mode: 0o600 });
    } finally {
      plaintext.fill(0);
    }
  }

  async list(): Promise<StoredKeyInfo[]> {
    const env = await FileKeyStore.#readEnvelope(this.path);
    const keys: unknown = env.public.keys;
    if (!Array.isArray(keys)) throw new AppError('VALIDATION', 'The keystore file is malformed (key list).');
    if (this.#kek !== undefined) openWithKek(this.#kek, env, WHAT).fill(0); // unlocked: authenticate the list too
    return keys as StoredKeyInfo[];
  }

  async get(kid: string): Promise<StoredKey | undefined> {
    const c = await this.#read();
    return c.records.find((r) => r.key.kid === kid);
  }

  async put(stored: StoredKey, opts: { overwrite?: boolean } = {}): Promise<void> {
    const kid = requireKid(stored.key);
    this.#requireKek();
    await withFileLock(this.path, async () => {
      const c = await this.#read();
      const exists = c.records.some((r) => r.key.kid === kid);
      if (exists && opts.overwrite !== true) throw new AppError('ALREADY_EXISTS', `A key with kid "${kid}" is already in ${this.path}. Delete it first or choose another kid.`);
      await this.#write({ records: [...c.records.filter((r) => r.key.kid !== kid), stored].sort((a, b) => ((a.key.kid ?? '') < (b.key.kid ?? '') ? -1 : 1)) });
    });
  }

  async delete(kid: string): Promise<boolean> {
    this.#requireKek();
    return withFileLock(this.path, async () => {
      const c = await this.#read();
      const rest = c.records.filter((r) => r.key.kid !== kid);
      if (rest.length === c.records.length) return false;
      await this.#write({ records: rest });
      return true;
    });
  }

  /** Re-encrypts the whole keystore under a new passphrase (new salt). */
  async changePassphrase(newPassphrase: string, opts: { params?: ScryptParams } = {}): Promise<void> {
    checkNewPassphrase(newPassphrase);
    await withFileLock(this.path, async () => {
      const c = await this.#read();
      const kek = await newKek(newPassphrase, opts.params ?? this.#requireKek().kdf);
      await this.#write(c, kek);
      this.lock();
      this.#kek = kek;
    });
  }
}
