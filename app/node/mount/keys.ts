/**
 * Where a mount's keys come from (decided for issue 8; README "Mounting"):
 *
 * - **local**: the master key by the header's enc kid from the key sources, in their usual order (app/node/keys/
 *   sources.ts: explicit `--key-file` JWKs, the OS keychain, the file keystore when MODEL_VAULT_PASSPHRASE opens it,
 *   MODEL_VAULT_KEYS / MODEL_VAULT_KEYS_FILE, CRYPTOTENSOR_KEYS); the trusted signers from explicit `--trust` JWKs,
 *   else every signer marked trusted in the trust store (`model-vault keys trust`).
 * - **broker** (broker-keys.ts): the subscriber's key released by the broker to this device, with its licence guarding
 *   the mount.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { AppError, isAppError } from '../../errors.ts';
import { parseJwkOrSet } from '../../keys/jwk.ts';
import type { KeyMaterial } from '../../keys/key.ts';
import { publicKeyOf } from '../../keys/trust.ts';
import type { MasterKey, VerifyKey } from '../../format/keys.ts';
import { openFileSource, readModelHeader } from '../format/file-source.ts';
import { folderLayout } from '../format/package.ts';
import { FileKeyStore } from '../keys/file-keystore.ts';
import { KeychainKeyStore } from '../keys/keychain-keystore.ts';
import { keystorePath, trustStorePath, type Env } from '../keys/paths.ts';
import { resolveKey } from '../keys/sources.ts';
import { loadTrustStore } from '../keys/trust-file.ts';
import type { MountKeys } from './manager.ts';

const MAX_KEY_FILE_BYTES = 1 << 20;

/** The first weights file of a model (a file, or a folder's first shard). */
export async function firstWeightsFile(model: string): Promise<string> {
  const st = await fs.stat(model).catch(() => null);
  if (st === null) throw new AppError('NOT_FOUND', `No model at ${model}. Check the path.`);
  if (st.isFile()) return model;
  const { shards } = await folderLayout(model);
  const first = shards[0];
  if (first === undefined) throw new AppError('VALIDATION', 'The folder has no .safetensors files: choose a packaged model folder.');
  return join(model, first);
}

/** The header's enc kid (unauthenticated: used only to pick a key, which must then verify). */
export async function encKidOf(model: string): Promise<string | undefined> {
  const src = await openFileSource(await firstWeightsFile(model));
  try {
    return (await readModelHeader(src)).parsed.crypto?.keys.enc.kid;
  } finally {
    await src.handle.close();
  }
}

export async function readJwkFile(path: string): Promise<KeyMaterial[]> {
  const st = await fs.stat(path).catch(() => null);
  if (st?.isFile() !== true) throw new AppError('KEY_NOT_FOUND', `Key file not found: ${path}`);
  if (st.size > MAX_KEY_FILE_BYTES) throw new AppError('KEY_INVALID', `${path} is larger than 1 MiB; it is not a key file.`);
  return parseJwkOrSet(await fs.readFile(path, 'utf8'), { where: path });
}

function asMaster(k: KeyMaterial): MasterKey | undefined {
  return k.kind === 'master' ? { alg: k.alg, key: k.key, ...(k.kid === undefined ? {} : { kid: k.kid }) } : undefined;
}

export interface LocalKeyOptions {
  readonly model: string;
  readonly env: Env;
  readonly keyFiles?: readonly string[];
  readonly trustFiles?: readonly string[];
}

export async function localMountKeys(o: LocalKeyOptions): Promise<MountKeys> {
  const explicit: KeyMaterial[] = [];
  for (const f of o.keyFiles ?? []) explicit.push(...(await readJwkFile(f)));
  const kid = await encKidOf(o.model);
  let file: FileKeyStore | undefined;
  const pw = o.env.MODEL_VAULT_PASSPHRASE;
  if (pw !== undefined && pw !== '') {
    file = await FileKeyStore.open(keystorePath(o.env), { passphrase: pw }).catch((e: unknown) => {
      if (isAppError(e) && e.code === 'NOT_FOUND') return undefined;
      throw e;
    });
  }
  const master = asMaster((await resolveKey({ use: 'master', ...(kid === undefined ? {} : { kid }) }, { explicit, keychain: () => KeychainKeyStore.open(), ...(file === undefined ? {} : { keystoreFile: file }), env: o.env })).key);
  if (master === undefined) throw new AppError('KEY_NOT_FOUND', 'No master key for this model was found.');
  const trustedSigners: VerifyKey[] = [];
  for (const f of o.trustFiles ?? []) {
    for (const k of await readJwkFile(f)) if (k.kind === 'signing') trustedSigners.push({ publicKey: k.publicKey, ...(k.kid === undefined ? {} : { kid: k.kid }) });
  }
  if ((o.trustFiles ?? []).length === 0) {
    const store = await loadTrustStore(trustStorePath(o.env));
    for (const e of store.entries) if (e.trusted) trustedSigners.push({ publicKey: publicKeyOf(e), ...(e.kid === undefined ? {} : { kid: e.kid }) });
  }
  if (trustedSigners.length === 0) throw new AppError('SIGNER_UNTRUSTED', "No trusted signer: pin the publisher's key with `model-vault keys trust <public-jwk-file>` or pass --trust FILE.");
  return { masterKeys: [master], trustedSigners };
}
