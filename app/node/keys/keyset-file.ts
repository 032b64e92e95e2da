/**
 * Keysets on disk: MODEL_VAULT_KEYSETS (default <home>/keysets.json), `{"version":1,"keysets":[Keyset…]}`.
 * Holds only kids, fingerprints, algs and states (no key material); changed under the file lock, written atomically.
 */
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { AppError } from '../../errors.ts';
import type { KeyInfo } from '../../keys/key.ts';
import { addKey, emptyKeyset, type Keyset, type KeysetEntry, type KeysetPurpose, parseKeyset, promoteKey, retireKey } from '../../keys/keyset.ts';
import { readTextIfExists, withFileLock, writeFileAtomic } from '../atomic.ts';
import { modelVaultHome, type Env } from './paths.ts';
import { clearDeadLock } from './rotate-folder.ts';

export interface KeysetFile {
  readonly version: 1;
  readonly keysets: readonly Keyset[];
}

export function keysetsPath(env: Env): string {
  const v = env.MODEL_VAULT_KEYSETS;
  return v !== undefined && v !== '' ? v : join(modelVaultHome(env), 'keysets.json');
}

export async function loadKeysets(path: string): Promise<KeysetFile> {
  const text = await readTextIfExists(path);
  if (text === undefined) return { version: 1, keysets: [] };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new AppError('VALIDATION', `The keyset file ${path} is not valid JSON. Restore it from a backup.`);
  }
  const d = doc as Partial<KeysetFile> | null;
  if (d === null || typeof d !== 'object' || d.version !== 1 || !Array.isArray(d.keysets)) throw new AppError('VALIDATION', `The keyset file ${path} is malformed.`);
  return { version: 1, keysets: d.keysets.map(parseKeyset) };
}

export function findKeyset(file: KeysetFile, purpose: KeysetPurpose, owner: string): Keyset {
  return file.keysets.find((k) => k.purpose === purpose && k.owner === owner) ?? emptyKeyset(purpose, owner);
}

export function replaceKeyset(file: KeysetFile, ks: Keyset): KeysetFile {
  return { version: 1, keysets: [...file.keysets.filter((k) => !(k.purpose === ks.purpose && k.owner === ks.owner)), ks] };
}

/** Applies `change` under the file lock and saves the result. */
export async function updateKeysets(path: string, change: (f: KeysetFile) => KeysetFile): Promise<KeysetFile> {
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  return withFileLock(path, async () => {
    const next = change(await loadKeysets(path));
    await writeFileAtomic(path, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
    return next;
  });
}

/** Where a rotation stages and promotes its new keys: the keysets file, for one owner (shared by the CLI and the app). */
export function keysetFilePort(path: string, owner: string): { update(purpose: KeysetPurpose, change: (ks: Keyset) => Keyset): Promise<Keyset> } {
  return {
    async update(purpose, change) {
      await clearDeadLock(path);
      const next = await updateKeysets(path, (f) => replaceKeyset(f, change(findKeyset(f, purpose, owner))));
      return findKeyset(next, purpose, owner);
    },
  };
}

export type KeysetVerb = 'stage' | 'promote' | 'retire';

/**
 * `keys stage|promote|retire` (CLI) and the security view's keyset actions: stage needs the stored key's description
 * (it picks the keyset by kind); promote and retire find the keyset of `owner` that holds the kid.
 */
export async function changeKeysetState(path: string, verb: KeysetVerb, kid: string, owner: string, stored?: KeyInfo): Promise<{ purpose: KeysetPurpose; keyset: Keyset; entry: KeysetEntry | undefined }> {
  let purpose: KeysetPurpose;
  if (verb === 'stage') {
    if (stored === undefined) throw new AppError('KEY_NOT_FOUND', `No stored key "${kid}" to stage. Create or import it first.`);
    purpose = stored.kind === 'master' ? 'enc' : 'sign';
  } else {
    const current = await loadKeysets(path);
    const holder = current.keysets.find((k) => k.owner === owner && k.entries.some((e) => e.kid === kid));
    if (holder === undefined) throw new AppError('KEY_NOT_FOUND', `Key ${kid} is in no keyset of ${owner}. Stage it first ("model-vault keys stage ${kid}").`);
    purpose = holder.purpose;
  }
  const now = new Date();
  await clearDeadLock(path);
  const next = await updateKeysets(path, (f) => {
    const ks = findKeyset(f, purpose, owner);
    const changed = verb === 'stage' ? addKey(ks, stored as KeyInfo, now) : verb === 'promote' ? promoteKey(ks, kid, now) : retireKey(ks, kid, now);
    return replaceKeyset(f, changed);
  });
  const keyset = findKeyset(next, purpose, owner);
  return { purpose, keyset, entry: keyset.entries.find((e) => e.kid === kid) };
}
