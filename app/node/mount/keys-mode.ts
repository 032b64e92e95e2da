/**
 * Key-release mode, for runtimes that load CryptoTensors themselves with the reference's loader: the model's master
 * key and its signer's public key are written as the reference's JWK Set into a 0600 file inside a private 0700
 * folder on a memory filesystem (tmpfs: `$XDG_RUNTIME_DIR`, else `/dev/shm`), never on a disk. The folder is
 * removed on unmount. The runtime reads it through the reference's `CRYPTOTENSOR_KEYS` variable, set for the
 * launched process only (`CRYPTOTENSOR_KEYS="$(cat <file>)" <command>`), or registers the file with
 * `cryptotensors.register_direct_key_provider(files=[<file>])`.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../../errors.ts';
import { serializeJwkSet } from '../../keys/jwk.ts';
import { makeMasterKey, makeSigningKey, normalizeMasterAlg } from '../../keys/key.ts';
import type { MasterKey as FormatMasterKey, VerifyKey } from '../../format/keys.ts';
import type { Env } from '../keys/paths.ts';
import { ensurePrivateDir } from './runtime.ts';

/** statfs magic numbers of memory filesystems (Linux). */
const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

export const REFERENCE_KEYS_ENV = 'CRYPTOTENSOR_KEYS';

export interface ReleasedKeys {
  readonly dir: string;
  readonly file: string;
  /** The shell line that launches a runtime with the keys (the key itself is not in it). */
  readonly shellPrefix: string;
  remove(): Promise<void>;
}

async function onMemoryFs(path: string): Promise<boolean> {
  try {
    const s = await fs.statfs(path);
    return s.type === TMPFS_MAGIC || s.type === RAMFS_MAGIC;
  } catch {
    return false;
  }
}

/** The tmpfs folder the keys folders go in: $XDG_RUNTIME_DIR, else /dev/shm; refused when neither is a memory filesystem. */
export async function keysRoot(env: Env): Promise<string> {
  const candidates = [env.MODEL_VAULT_KEYS_TMPFS, env.XDG_RUNTIME_DIR, '/dev/shm'].filter((p): p is string => p !== undefined && p !== '');
  for (const c of candidates) if (await onMemoryFs(c)) return c;
  throw new AppError('MOUNT_FAILED', 'No memory filesystem (tmpfs) was found for the released key (tried $XDG_RUNTIME_DIR and /dev/shm): the key would land on a disk. Use --mode fuse or --mode http instead.');
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function releaseKeys(id: string, env: Env, keys: { readonly master: FormatMasterKey; readonly verify: VerifyKey; readonly encKid?: string; readonly signKid?: string }): Promise<ReleasedKeys> {
  const root = await keysRoot(env);
  const dir = await ensurePrivateDir(join(root, `model-vault-${String(process.getuid?.() ?? 'user')}-keys-${id}`));
  const file = join(dir, 'keys.jwks');
  const alg = normalizeMasterAlg(keys.master.alg);
  if (alg === undefined) throw new AppError('KEY_INVALID', 'The master key has an unsupported algorithm.');
  const encKid = keys.encKid ?? keys.master.kid;
  const signKid = keys.signKid ?? keys.verify.kid;
  const master = makeMasterKey(alg, keys.master.key, encKid === undefined ? {} : { kid: encKid });
  const verify = makeSigningKey({ publicKey: keys.verify.publicKey }, signKid === undefined ? {} : { kid: signKid });
  try {
    await fs.writeFile(file, serializeJwkSet([master, verify], { includeSecret: true }) + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    await fs.rm(dir, { recursive: true, force: true });
    throw new AppError('MOUNT_FAILED', `The key file could not be written in ${dir} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: e });
  } finally {
    master.key.fill(0);
  }
  return {
    dir,
    file,
    shellPrefix: `${REFERENCE_KEYS_ENV}="$(cat ${shellQuote(file)})"`,
    async remove() {
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
