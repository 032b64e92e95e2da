/**
 * Key sources for loading, in this fixed priority (first match wins; README "Key sources"):
 *
 *   1. explicit        keys given directly (CLI `--key-file`, API callers)
 *   2. keychain        the OS keychain (skipped, with the reason recorded, when unavailable)
 *   3. keystore-file   the encrypted file keystore (MODEL_VAULT_KEYSTORE), when open
 *   4. env             MODEL_VAULT_KEYS (a JWK or JWK Set, either dialect) and MODEL_VAULT_KEYS_FILE (a path to one)
 *   5. reference-env   CRYPTOTENSOR_KEYS, the reference's variable (same JSON, reference selection rules)
 *   6. reference-file  a `file://` jku, the reference's File provider form — only when the path is in the
 *                      caller's allow-list (spec W-3: a header must never choose which file we read)
 *
 * Selection inside a source: with a kid, the first key with that kid and the wanted kind; without a kid, the only
 * key of that kind (several → an error asking for a kid), except in the reference env/file forms, which take the
 * first key of that kind as the reference does. As in the reference, the env and file forms never supply a signing
 * (private) key: they can supply master keys and verify keys only.
 */
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError, isAppError } from '../../errors.ts';
import { parseJwkOrSet } from '../../keys/jwk.ts';
import { describeKey, publicHalf, wipeKey, type KeyInfo, type KeyMaterial } from '../../keys/key.ts';
import type { KeyStore } from '../../keys/keystore.ts';
import type { Env } from './paths.ts';

export const KEY_SOURCE_ORDER = Object.freeze(['explicit', 'keychain', 'keystore-file', 'env', 'reference-env', 'reference-file'] as const);
export type KeySourceName = (typeof KEY_SOURCE_ORDER)[number];

export const KEY_ENV = Object.freeze({ keys: 'MODEL_VAULT_KEYS', keysFile: 'MODEL_VAULT_KEYS_FILE', reference: 'CRYPTOTENSOR_KEYS' } as const);

/** `master`: an enc key; `signing`: a private Ed25519 key; `verify`: an Ed25519 public key (a private one also does). */
export type KeyUse = 'master' | 'signing' | 'verify';

export interface KeyRequest {
  readonly use: KeyUse;
  readonly kid?: string;
  /** Only used for the reference-file source, and only if allow-listed. */
  readonly jku?: string;
}

export interface KeySources {
  readonly explicit?: readonly KeyMaterial[];
  /** The keychain, or a function opening it (its KEYCHAIN_UNAVAILABLE error makes the source be skipped). */
  readonly keychain?: KeyStore | (() => Promise<KeyStore>);
  readonly keystoreFile?: KeyStore;
  readonly env?: Env;
  /** Absolute file paths that a `file://` jku may name. Empty or absent: jku is never dereferenced. */
  readonly jkuAllowList?: readonly string[];
}

export interface ResolvedKey {
  readonly key: KeyMaterial;
  readonly source: KeySourceName;
  /** Sources that could not be consulted, with why (e.g. the keychain is unavailable). */
  readonly skipped: readonly { readonly source: KeySourceName; readonly reason: string }[];
}

function fits(key: KeyMaterial, use: KeyUse): boolean {
  if (use === 'master') return key.kind === 'master';
  if (use === 'signing') return key.kind === 'signing' && key.seed !== undefined;
  return key.kind === 'signing';
}

function pick(keys: readonly KeyMaterial[], req: KeyRequest, rule: 'unique' | 'first', where: string): KeyMaterial | undefined {
  const candidates = keys.filter((k) => fits(k, req.use) && (req.kid === undefined || k.kid === req.kid));
  if (candidates.length > 1 && req.kid === undefined && rule === 'unique') {
    throw new AppError('VALIDATION', `${where} has ${candidates.length} ${req.use} keys: choose one with --kid (see "model-vault keys list").`);
  }
  const k = candidates[0];
  return k !== undefined && req.use === 'verify' && k.kind === 'signing' ? publicHalf(k) : k;
}

async function fromStore(store: KeyStore, req: KeyRequest): Promise<KeyMaterial | undefined> {
  if (req.kid !== undefined) {
    const s = await store.get(req.kid);
    return s === undefined ? undefined : pick([s.key], req, 'unique', store.info.location);
  }
  const infos = (await store.list()).filter((i) => (req.use === 'master' ? i.kind === 'master' : i.kind === 'signing' && (req.use === 'verify' || !i.verifyOnly)));
  if (infos.length > 1) throw new AppError('VALIDATION', `${store.info.location} has ${infos.length} ${req.use} keys: choose one with --kid (see "model-vault keys list").`);
  const only = infos[0];
  if (only === undefined) return undefined;
  const s = await store.get(only.kid);
  return s === undefined ? undefined : pick([s.key], req, 'unique', store.info.location);
}

/** The path of a `file://` jku, as the reference's File provider reads it (`file:///abs`, `file://~/p`). */
export function jkuToPath(jku: string, home: string = homedir()): string | undefined {
  if (!jku.startsWith('file://')) return undefined;
  const rest = jku.slice('file://'.length);
  if (rest.startsWith('~/')) return resolve(home, rest.slice(2));
  if (rest.startsWith('/')) {
    try {
      return fileURLToPath(jku);
    } catch {
      return rest;
    }
  }
  return undefined; // relative: the reference resolves against search paths, which are empty by default
}

export async function resolveKey(req: KeyRequest, sources: KeySources): Promise<ResolvedKey> {
  const skipped: { source: KeySourceName; reason: string }[] = [];
  const env = sources.env ?? {};
  const found = (key: KeyMaterial | undefined, source: KeySourceName): ResolvedKey | undefined => (key === undefined ? undefined : { key, source, skipped });

  const explicit = found(pick(sources.explicit ?? [], req, 'unique', 'The explicit keys'), 'explicit');
  if (explicit !== undefined) return explicit;

  if (sources.keychain !== undefined) {
    try {
      const store = typeof sources.keychain === 'function' ? await sources.keychain() : sources.keychain;
      const r = found(await fromStore(store, req), 'keychain');
      if (r !== undefined) return r;
    } catch (e) {
      if (!isAppError(e) || e.code !== 'KEYCHAIN_UNAVAILABLE') throw e;
      skipped.push({ source: 'keychain', reason: e.message });
    }
  }

  if (sources.keystoreFile !== undefined) {
    try {
      const r = found(await fromStore(sources.keystoreFile, req), 'keystore-file');
      if (r !== undefined) return r;
    } catch (e) {
      if (!isAppError(e) || (e.code !== 'KEYSTORE_LOCKED' && e.code !== 'NOT_FOUND')) throw e;
      skipped.push({ source: 'keystore-file', reason: e.message });
    }
  }

  if (req.use !== 'signing') {
    const envKeys = env[KEY_ENV.keys];
    if (envKeys !== undefined && envKeys !== '') {
      const r = found(pick(parseJwkOrSet(envKeys, { where: KEY_ENV.keys }), req, 'unique', KEY_ENV.keys), 'env');
      if (r !== undefined) return r;
    }
    const envFile = env[KEY_ENV.keysFile];
    if (envFile !== undefined && envFile !== '') {
      const text = await readKeyFile(envFile, KEY_ENV.keysFile);
      const r = found(pick(parseJwkOrSet(text, { where: KEY_ENV.keysFile }), req, 'unique', KEY_ENV.keysFile), 'env');
      if (r !== undefined) return r;
    }
    const ref = env[KEY_ENV.reference];
    if (ref !== undefined && ref !== '') {
      const r = found(pick(parseJwkOrSet(ref, { where: KEY_ENV.reference }), req, 'first', KEY_ENV.reference), 'reference-env');
      if (r !== undefined) return r;
    }
    if (req.jku !== undefined) {
      const path = jkuToPath(req.jku);
      const allowed = (sources.jkuAllowList ?? []).map((p) => resolve(p));
      if (path === undefined || !isAbsolute(path) || !allowed.includes(resolve(path))) {
        skipped.push({ source: 'reference-file', reason: 'the jku names a file that is not in the allow-list (a file header cannot choose which key file is read)' });
      } else {
        const r = found(pick(parseJwkOrSet(await readKeyFile(path, 'jku file'), { where: 'jku file' }), req, 'first', 'jku file'), 'reference-file');
        if (r !== undefined) return r;
      }
    }
  }

  const tried = KEY_SOURCE_ORDER.join(', ');
  const notes = skipped.length === 0 ? '' : ` Skipped: ${skipped.map((s) => `${s.source} (${s.reason})`).join('; ')}`;
  throw new AppError('KEY_NOT_FOUND', `No ${req.use} key${req.kid === undefined ? '' : ` with kid "${req.kid}"`} was found (sources tried in order: ${tried}). Import it with "model-vault keys import" or give it with --key-file.${notes}`);
}

/** One environment variable that supplies keys (source 4 or 5), as the key inventory describes it. */
export interface EnvironmentKeySource {
  readonly variable: string;
  readonly source: 'env' | 'reference-env';
  /** Where the keys are, for people: the variable itself, or the file MODEL_VAULT_KEYS_FILE names. */
  readonly location: string;
  /** The keys it holds, described (kid, kind, alg, fingerprint): never their bytes. */
  readonly keys: readonly KeyInfo[];
  /** Why the variable could not be read (its keys are then not usable either). */
  readonly problem?: string;
}

/**
 * The keys the environment supplies (sources 4 and 5, in that order), described: what `resolveKey` would find there.
 * Key bytes are parsed to compute fingerprints and wiped at once. As in `resolveKey`, these sources never supply a
 * private signing key, so signing keys are described as verify-only.
 */
export async function environmentKeySources(env: Env): Promise<EnvironmentKeySource[]> {
  const out: EnvironmentKeySource[] = [];
  const add = async (variable: string, source: EnvironmentKeySource['source'], location: string, text: () => Promise<string>): Promise<void> => {
    try {
      const keys = parseJwkOrSet(await text(), { where: variable });
      out.push({ variable, source, location, keys: keys.map((k) => describeKey(k.kind === 'signing' ? publicHalf(k) : k)) });
      for (const k of keys) wipeKey(k);
    } catch (e) {
      if (!isAppError(e)) throw e;
      out.push({ variable, source, location, keys: [], problem: e.message });
    }
  };
  const inline = env[KEY_ENV.keys];
  if (inline !== undefined && inline !== '') await add(KEY_ENV.keys, 'env', KEY_ENV.keys, async () => inline);
  const file = env[KEY_ENV.keysFile];
  if (file !== undefined && file !== '') await add(KEY_ENV.keysFile, 'env', file, () => readKeyFile(file, KEY_ENV.keysFile));
  const ref = env[KEY_ENV.reference];
  if (ref !== undefined && ref !== '') await add(KEY_ENV.reference, 'reference-env', KEY_ENV.reference, async () => ref);
  return out;
}

const MAX_KEY_FILE_BYTES = 1 << 20;

async function readKeyFile(path: string, what: string): Promise<string> {
  let h: fs.FileHandle | undefined;
  try {
    h = await fs.open(path, 'r');
    const st = await h.stat();
    if (!st.isFile()) throw new AppError('VALIDATION', `${what}: ${path} is not a regular file.`);
    if (st.size > MAX_KEY_FILE_BYTES) throw new AppError('LIMIT_EXCEEDED', `${what}: ${path} is larger than 1 MiB; it is not a key file.`);
    return await h.readFile('utf8');
  } catch (e) {
    if (isAppError(e)) throw e;
    throw new AppError('IO_ERROR', `${what}: could not read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: e });
  } finally {
    await h?.close();
  }
}
