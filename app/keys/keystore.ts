/**
 * The `KeyStore` port (STYLE §1 ports and adapters). Adapters: the OS keychain (`app/node/keys/keychain-keystore.ts`,
 * via keytar), the encrypted file keystore (`app/node/keys/file-keystore.ts`), and `MemoryKeyStore` below (for
 * explicit keys held only for one process).
 *
 * A stored key is the reference-dialect JWK with its secret, plus non-secret metadata, serialized by
 * `encodeStoredKey` so every adapter stores the same bytes. Listing never returns key bytes.
 */
import { AppError } from '../errors.ts';
import { parseJwk, toReferenceJwk } from './jwk.ts';
import { describeKey, type KeyInfo, type KeyMaterial } from './key.ts';

export type KeyOrigin = 'generated' | 'imported' | 'combined';

export interface StoredKeyMeta {
  readonly createdAt: string;
  readonly origin: KeyOrigin;
  readonly label?: string;
}

export interface StoredKey {
  readonly key: KeyMaterial;
  readonly meta: StoredKeyMeta;
}

export interface StoredKeyInfo extends KeyInfo {
  readonly kid: string;
  readonly meta: StoredKeyMeta;
}

export type KeyStoreKind = 'keychain' | 'file' | 'memory';

export interface KeyStoreInfo {
  readonly kind: KeyStoreKind;
  /** Where the keys are, for people (service name, file path). */
  readonly location: string;
}

export interface KeyStore {
  readonly info: KeyStoreInfo;
  list(): Promise<StoredKeyInfo[]>;
  get(kid: string): Promise<StoredKey | undefined>;
  /** Stores a key under its kid. Fails with ALREADY_EXISTS unless `overwrite`. */
  put(stored: StoredKey, opts?: { overwrite?: boolean }): Promise<void>;
  /** True if something was deleted. */
  delete(kid: string): Promise<boolean>;
}

const RECORD_VERSION = 1;

export function requireKid(key: KeyMaterial): string {
  if (key.kid === undefined) throw new AppError('VALIDATION', 'A key needs a kid to be stored. Give one with --kid.');
  return key.kid;
}

export function storedKeyInfo(stored: StoredKey): StoredKeyInfo {
  return { ...describeKey(stored.key), kid: requireKid(stored.key), meta: stored.meta };
}

/** The one serialized form of a stored key (contains the secret: only ever written into a protected store). */
export function encodeStoredKey(stored: StoredKey): string {
  requireKid(stored.key);
  return JSON.stringify({ v: RECORD_VERSION, jwk: toReferenceJwk(stored.key, { includeSecret: true }), meta: stored.meta });
}

export function decodeStoredKey(text: string, where: string): StoredKey {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new AppError('KEY_INVALID', `${where}: the stored key record is not valid JSON. Delete it and import the key again from a backup.`);
  }
  const d = doc as { v?: unknown; jwk?: unknown; meta?: Partial<StoredKeyMeta> } | null;
  if (d === null || typeof d !== 'object' || d.v !== RECORD_VERSION || typeof d.meta !== 'object' || d.meta === null) {
    throw new AppError('KEY_INVALID', `${where}: not a Model Vault key record (or a newer version). Update Model Vault or re-import the key.`);
  }
  const key = parseJwk(d.jwk, { where });
  const m = d.meta;
  const origin: KeyOrigin = m.origin === 'imported' || m.origin === 'combined' ? m.origin : 'generated';
  return { key, meta: { createdAt: typeof m.createdAt === 'string' ? m.createdAt : '', origin, ...(typeof m.label === 'string' ? { label: m.label } : {}) } };
}

/** Keys held in memory for one process (explicit keys, tests, the CLI's `--key-file`). */
export class MemoryKeyStore implements KeyStore {
  readonly info: KeyStoreInfo;
  readonly #records = new Map<string, string>();

  constructor(location = 'memory') {
    this.info = { kind: 'memory', location };
  }

  list(): Promise<StoredKeyInfo[]> {
    return Promise.resolve([...this.#records.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([kid, r]) => storedKeyInfo(decodeStoredKey(r, `key ${kid}`))));
  }

  get(kid: string): Promise<StoredKey | undefined> {
    const r = this.#records.get(kid);
    return Promise.resolve(r === undefined ? undefined : decodeStoredKey(r, `key ${kid}`));
  }

  put(stored: StoredKey, opts: { overwrite?: boolean } = {}): Promise<void> {
    const kid = requireKid(stored.key);
    if (this.#records.has(kid) && opts.overwrite !== true) return Promise.reject(new AppError('ALREADY_EXISTS', `A key with kid "${kid}" already exists. Delete it first or choose another kid.`));
    this.#records.set(kid, encodeStoredKey(stored));
    return Promise.resolve();
  }

  delete(kid: string): Promise<boolean> {
    return Promise.resolve(this.#records.delete(kid));
  }
}
