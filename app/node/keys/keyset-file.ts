/**
 * Keysets on disk: MODEL_VAULT_KEYSETS (default <home>/keysets.json), `{"version":1,"keysets":[Keyset…]}`.
 * Holds only kids, fingerprints, algs and states (no key material); changed under the file lock, written atomically.
 */
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { AppError } from '../../errors.ts';
import { emptyKeyset, type Keyset, type KeysetPurpose, parseKeyset } from '../../keys/keyset.ts';
import { readTextIfExists, withFileLock, writeFileAtomic } from './atomic-write.ts';
import { modelVaultHome, type Env } from './paths.ts';

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
