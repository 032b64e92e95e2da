/** Loading and saving the trust store file (MODEL_VAULT_TRUST, default <home>/trust.json), atomically and locked. */
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { emptyTrustStore, parseTrustStore, serializeTrustStore, type TrustStore } from '../../keys/trust.ts';
import { readTextIfExists, withFileLock, writeFileAtomic } from '../atomic.ts';

export async function loadTrustStore(path: string): Promise<TrustStore> {
  const text = await readTextIfExists(path);
  return text === undefined ? emptyTrustStore() : parseTrustStore(text);
}

/** Applies `change` to the current trust store under the file lock and saves the result. */
export async function updateTrustStore(path: string, change: (t: TrustStore) => TrustStore): Promise<TrustStore> {
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  return withFileLock(path, async () => {
    const next = change(await loadTrustStore(path));
    await writeFileAtomic(path, serializeTrustStore(next), { mode: 0o600 });
    return next;
  });
}
