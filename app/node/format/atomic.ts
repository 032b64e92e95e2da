/** Atomic output: write to a temp path in the same folder, fsync, rename; remove the temp on any failure. */
import { randomBytes } from '../../crypto/random.ts';
import { toHex } from '../../crypto/sha256.ts';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AppError } from '../../errors.ts';
import { ioError } from './file-source.ts';

export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.mv-tmp-${toHex(randomBytes(6))}`);
}

export async function ensureAbsent(target: string, overwrite: boolean): Promise<void> {
  try {
    await stat(target);
  } catch (e) {
    if (typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'ENOENT') return;
    throw ioError('check the output path', e);
  }
  if (!overwrite) throw new AppError('ALREADY_EXISTS', 'The output already exists. Choose another path or pass --force.');
}

export async function fsyncPath(path: string): Promise<void> {
  const h = await open(path, 'r');
  try {
    await h.sync();
  } catch (e) {
    // Some file systems refuse fsync on directories; the data itself was synced.
    if (!(typeof e === 'object' && e !== null && ['EINVAL', 'EISDIR', 'EPERM'].includes(String((e as { code?: unknown }).code)))) throw e;
  } finally {
    await h.close();
  }
}

/** Renames temp → target (replacing a file target when allowed) and fsyncs the folder. */
export async function commit(temp: string, target: string, overwrite: boolean): Promise<void> {
  await ensureAbsent(target, overwrite);
  const st = await stat(target).catch(() => null);
  if (st?.isDirectory() === true) await rm(target, { recursive: true });
  await rename(temp, target);
  await fsyncPath(dirname(target)).catch(() => undefined);
}

export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true }).catch(() => undefined);
}
