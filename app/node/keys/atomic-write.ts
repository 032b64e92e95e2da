/**
 * Crash-safe file replacement: write a temp file in the same folder (mode 0600 by default), fsync it, rename it
 * over the target, then fsync the folder so the rename itself is durable. A reader sees the old file or the new
 * one, never a mix. Used by the file keystore and the trust store.
 */
import { constants, promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AppError } from '../../errors.ts';
import { toHex } from '../../crypto/encoding.ts';
import { randomBytes } from '../../crypto/random.ts';

export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: { mode?: number } = {}): Promise<void> {
  const mode = opts.mode ?? 0o600;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${toHex(randomBytes(6))}`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    await handle.writeFile(data);
    await handle.chmod(mode); // the umask may have narrowed or the platform ignored the create mode
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, path);
    await fsyncDir(dir);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new AppError('IO_ERROR', `Could not write ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}). Check that the folder exists and is writable, and that the disk is not full.`, { cause: e });
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let h: fs.FileHandle | undefined;
  try {
    h = await fs.open(dir, constants.O_RDONLY);
    await h.sync();
  } catch (e) {
    // Windows cannot open or fsync a directory; the rename is still atomic there.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw e;
  } finally {
    await h?.close();
  }
}

/** Reads a file as UTF-8, or `undefined` when it does not exist. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AppError('IO_ERROR', `Could not read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}). Check the path and its permissions.`, { cause: e });
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
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new AppError('IO_ERROR', `Could not create the lock file ${lock}. Check the folder permissions.`, { cause: e });
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
