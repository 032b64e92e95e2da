/**
 * The FUSE mount (fuse-native over libfuse 2): the MountView as a read-only folder. Every file is opened with
 * `direct_io` (a libfuse mount option applied to all files), so reads bypass the kernel page cache and no plaintext
 * lingers there after a read; the filesystem is mounted `ro` and refuses writes. Reads run concurrently: each FUSE
 * read is an independent async call into the view, whose cache is shared.
 *
 * Never run a synchronous child process from the process serving a mount: it blocks the event loop that answers
 * the kernel, and a child touching the mount then deadlocks.
 */
import { createRequire } from 'node:module';
import { AppError, isAppError } from '../../errors.ts';
import { log } from '../log.ts';
import type { MountView } from './model-view.ts';

// The part of fuse-native 2.2.6's API (CommonJS, no types) used here.
interface FuseStat {
  readonly mtime: Date;
  readonly atime: Date;
  readonly ctime: Date;
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
}
interface FuseOps {
  readdir(path: string, cb: (code: number, names?: string[]) => void): void;
  getattr(path: string, cb: (code: number, stat?: FuseStat) => void): void;
  open(path: string, flags: number, cb: (code: number, fd?: number) => void): void;
  /** `cb(n)`: n ≥ 0 bytes were read into `buffer`, n < 0 an errno. */
  read(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (result: number) => void): void;
  release(path: string, fd: number, cb: (code: number) => void): void;
  statfs(path: string, cb: (code: number, stat?: Record<string, number>) => void): void;
}
interface FuseOptions {
  readonly force?: boolean;
  readonly mkdir?: boolean;
  readonly fsname?: string;
  readonly subtype?: string;
  readonly maxRead?: number;
  readonly timeout?: number | false;
}
interface FuseInstance {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
  /** The `-o…` option string given to libfuse. */
  _fuseOptions(): string;
}
interface FuseCtor {
  new (mnt: string, ops: FuseOps, opts?: FuseOptions): FuseInstance;
  unmount(mnt: string, cb: (err: Error | null) => void): void;
  readonly ENOENT: number;
  readonly EIO: number;
  readonly EACCES: number;
  readonly EROFS: number;
}

const require = createRequire(import.meta.url);

/** Loads fuse-native lazily: HTTP and keys modes never need the native module. */
function loadFuse(): FuseCtor {
  try {
    return require('fuse-native') as FuseCtor;
  } catch (e) {
    throw new AppError('MOUNT_FAILED', 'FUSE is not available here (the fuse-native module did not load). Install FUSE (apt-get install fuse libfuse2) or use --mode http.', { cause: e });
  }
}

/** Whether a FUSE mount can be attempted on this machine. */
export function fuseAvailable(): { readonly available: boolean; readonly reason?: string } {
  if (process.platform !== 'linux' && process.platform !== 'darwin') return { available: false, reason: `FUSE mounts are not supported on ${process.platform}; use --mode http.` };
  try {
    loadFuse();
  } catch (e) {
    return { available: false, reason: isAppError(e) ? e.message : 'fuse-native did not load' };
  }
  return { available: true };
}

export interface FuseMount {
  readonly mountpoint: string;
  unmount(): Promise<void>;
}

const O_ACCMODE = 3;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const MAX_READ = 1024 * 1024;

function errnoOf(e: unknown, Fuse: FuseCtor): number {
  if (!isAppError(e)) return Fuse.EIO;
  switch (e.code) {
    case 'NOT_FOUND':
      return Fuse.ENOENT;
    case 'LICENCE_EXPIRED':
    case 'LICENCE_REVOKED':
    case 'LICENCE_INVALID':
    case 'MOUNT_FAILED':
      return Fuse.EACCES;
    default:
      return Fuse.EIO;
  }
}

export async function mountFuse(view: MountView, mountpoint: string): Promise<FuseMount> {
  const Fuse = loadFuse();
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const started = new Date();
  const rel = (p: string): string => p.replace(/^\/+/, '');
  const statOf = (mode: number, size: number): FuseStat => ({ mtime: started, atime: started, ctime: started, size, mode, uid, gid, nlink: 1 });
  const open = new Map<number, string>();
  let nextFd = 1;

  const ops: FuseOps = {
    readdir(path, cb) {
      const dir = rel(path);
      if (!view.dirs.has(dir)) return cb(Fuse.ENOENT);
      const prefix = dir === '' ? '' : `${dir}/`;
      const names = new Set<string>();
      for (const p of [...view.files.map((f) => f.path), ...view.dirs]) {
        if (p === '' || !p.startsWith(prefix)) continue;
        const rest = p.slice(prefix.length);
        if (rest !== '' && !rest.includes('/')) names.add(rest);
      }
      return cb(0, [...names].sort());
    },
    getattr(path, cb) {
      const p = rel(path);
      if (view.dirs.has(p)) return cb(0, statOf(S_IFDIR | 0o500, 4096));
      const f = view.file(p);
      if (f === undefined) return cb(Fuse.ENOENT);
      return cb(0, statOf(S_IFREG | 0o400, f.size));
    },
    open(path, flags, cb) {
      const p = rel(path);
      if (view.file(p) === undefined) return cb(Fuse.ENOENT);
      if ((flags & O_ACCMODE) !== 0) return cb(Fuse.EROFS);
      const fd = nextFd++;
      open.set(fd, p);
      return cb(0, fd);
    },
    read(path, fd, buffer, length, position, cb) {
      const p = open.get(fd) ?? rel(path);
      const out = new Uint8Array(buffer.buffer, buffer.byteOffset, Math.min(length, buffer.length));
      view.read(p, position, out).then(cb, (e: unknown) => {
        if (!isAppError(e)) log.error('mount read failed', { error: e instanceof Error ? e.name : typeof e });
        cb(errnoOf(e, Fuse));
      });
    },
    release(_path, fd, cb) {
      open.delete(fd);
      return cb(0);
    },
    statfs(_path, cb) {
      return cb(0, { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: view.files.length, ffree: 0, favail: 0, fsid: 0, flag: 1, namemax: 255 });
    },
  };

  class DirectIoFuse extends Fuse {
    override _fuseOptions(): string {
      const base = super._fuseOptions();
      const extra = 'ro,direct_io';
      return base === '' ? `-o${extra}` : `${base},${extra}`;
    }
  }
  const fuse = new DirectIoFuse(mountpoint, ops, { force: true, mkdir: false, fsname: 'model-vault', subtype: 'model-vault', maxRead: MAX_READ, timeout: false });
  await new Promise<void>((resolve, reject) => {
    fuse.mount((err) => (err === null ? resolve() : reject(new AppError('MOUNT_FAILED', `The FUSE mount failed (${err.message}). Check that /dev/fuse exists and fusermount is installed, or use --mode http.`))));
  });
  let unmounted = false;
  return {
    mountpoint,
    async unmount() {
      if (unmounted) return;
      unmounted = true;
      await new Promise<void>((resolve, reject) => {
        fuse.unmount((err) => (err === null ? resolve() : reject(new AppError('MOUNT_FAILED', `Unmounting ${mountpoint} failed (${err.message}). Close the programs reading it and try again.`))));
      });
    },
  };
}

/** Detaches a FUSE mount left behind by a dead process (`fusermount -uz`, asynchronously). */
export async function lazyUnmount(mountpoint: string): Promise<void> {
  const Fuse = loadFuse();
  await new Promise<void>((resolve, reject) => {
    Fuse.unmount(mountpoint, (err) => (err === null ? resolve() : reject(new AppError('MOUNT_FAILED', `Unmounting ${mountpoint} failed (${err.message}).`))));
  });
}
