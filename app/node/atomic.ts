/**
 * Crash-safe files, in one place: every write of the app goes to a temp file in the target's folder, is fsynced,
 * renamed over the target, and the folder is fsynced so the rename itself is durable. A reader sees the old file or
 * the new one, never a mix; a failure removes the temp file.
 *
 * - `writeFileAtomic` for whole small files (key stores, trust store, journals, state, licences), mode 0600 default;
 * - `tempPathFor` + `commit` for streamed outputs (packaged models, rotated shards), written by the caller;
 * - `readTextIfExists` and `withFileLock` (a cross-process lock around read-modify-write cycles).
 */
import { constants, promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AppError } from '../errors.ts';
import { toHex } from '../crypto/encoding.ts';
import { randomBytes } from '../crypto/random.ts';

const errCode = (e: unknown): string => (typeof e === 'object' && e !== null && 'code' in e ? String((e as { code?: unknown }).code) : 'error');

/** What every temp file name contains (`.<target name>.mv-tmp-<pid>-<random>`): cleaners and folder scans skip it. */
export const TEMP_MARK = '.mv-tmp-';

/** A fresh hidden temp path next to `target` (same folder, so the final rename is atomic). */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}${TEMP_MARK}${process.pid}-${toHex(randomBytes(6))}`);
}

/**
 * fsync of a file or a folder. Some platforms and file systems cannot open or fsync a folder (Windows, some network
 * file systems): the data itself was synced and the rename is still atomic there, so those refusals are ignored.
 */
export async function fsyncPath(path: string): Promise<void> {
  let h: fs.FileHandle | undefined;
  try {
    h = await fs.open(path, constants.O_RDONLY);
    await h.sync();
  } catch (e) {
    if (!['EISDIR', 'EPERM', 'EINVAL', 'EACCES'].includes(errCode(e))) throw e;
  } finally {
    await h?.close();
  }
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: { mode?: number } = {}): Promise<void> {
  const mode = opts.mode ?? 0o600;
  const tmp = tempPathFor(path);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    await handle.writeFile(data);
    await handle.chmod(mode); // the umask may have narrowed or the platform ignored the create mode
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, path);
    await fsyncPath(dirname(path));
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new AppError('IO_ERROR', `Could not write ${path} (${errCode(e)}). Check that the folder exists and is writable, and that the disk is not full.`, { cause: e });
  }
}

/** ALREADY_EXISTS when `target` exists and may not be replaced. */
export async function ensureAbsent(target: string, overwrite: boolean): Promise<void> {
  try {
    await fs.stat(target);
  } catch (e) {
    if (errCode(e) === 'ENOENT') return;
    throw new AppError('IO_ERROR', `Cannot check the output path (${errCode(e)}). Check the path and permissions.`);
  }
  if (!overwrite) throw new AppError('ALREADY_EXISTS', 'The output already exists. Choose another path or pass --force.');
}

/** Renames a finished temp file or folder over `target` (replacing it when allowed) and fsyncs the folder. */
export async function commit(temp: string, target: string, overwrite: boolean): Promise<void> {
  await ensureAbsent(target, overwrite);
  const st = await fs.stat(target).catch(() => null);
  if (st?.isDirectory() === true) await fs.rm(target, { recursive: true });
  await fs.rename(temp, target);
  await fsyncPath(dirname(target)).catch(() => undefined);
}

export async function removeQuietly(path: string): Promise<void> {
  await fs.rm(path, { recursive: true, force: true }).catch(() => undefined);
}

/** Reads a file as UTF-8, or `undefined` when it does not exist. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch (e) {
    if (errCode(e) === 'ENOENT') return undefined;
    throw new AppError('IO_ERROR', `Could not read ${path} (${errCode(e)}). Check the path and its permissions.`, { cause: e });
  }
}

/**
 * A simple cross-process lock (`<path>.lock`, created with O_EXCL) around read-modify-write cycles. A lock older than
 * `staleMs` is considered abandoned by a crashed process and taken over.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, opts: { timeoutMs?: number; staleMs?: number } = {}): Promise<T> {
  const lock = `${path}.lock`;
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const staleMs = opts.staleMs ?? 30_000;
  for (;;) {
    try {
      const h = await fs.open(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      await h.writeFile(String(process.pid));
      await h.close();
      break;
    } catch (e) {
      if (errCode(e) !== 'EEXIST') throw new AppError('IO_ERROR', `Could not create the lock file ${lock}. Check the folder permissions.`, { cause: e });
      const st = await fs.stat(lock).catch(() => undefined);
      if (st !== undefined && Date.now() - st.mtimeMs > staleMs) {
        await fs.rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new AppError('IO_ERROR', `${path} is locked by another Model Vault process (${lock}). Wait for it to finish, or delete the lock file if no other process is running.`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true });
  }
}
