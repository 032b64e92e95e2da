/**
 * Staging of a model the user dropped in the browser (web host). A browser page has no file paths, so the dropped
 * files are uploaded, a chunk at a time and in order, into a private folder of the data directory:
 * `<data>/producer/staging/<32 hex>/` (folders 0700, files 0600). The staging folder is removed once the model is
 * packaged, when the user discards it, and (stale leftovers of a killed host) when the service starts.
 *
 * In Electron nothing is staged: the preload gives the dropped files' paths (webUtils.getPathForFile). When the user
 * drops several loose files there, they are hard-linked (copied across devices) into a staging folder so that the
 * packager sees one model folder.
 */
import { copyFile, link, lstat, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { AppError } from '../../../errors.ts';
import { randomBytes } from '../../../crypto/random.ts';
import { toHex } from '../../../crypto/encoding.ts';
import type { ModelSource } from '../../../ipc/ops/producer.ts';
import { STAGE_CHUNK_BYTES } from '../../../ipc/ops/producer.ts';

/** At most this many bytes per staged upload (a guard against filling the disk by mistake). */
export const MAX_STAGED_BYTES = 512 * 1024 ** 3;
const MAX_STAGED_FILES = 10_000;

export function stagingRoot(dataDir: string): string {
  return join(dataDir, 'producer', 'staging');
}

function codeOf(e: unknown): string {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e).code) : '';
}

export class Staging {
  /** Bytes written per staging id and file, so chunks must arrive in order. */
  private readonly written = new Map<string, Map<string, number>>();
  private cleaned = false;

  constructor(private readonly dataDir: string) {}

  private dirOf(stagingId: string): string {
    return join(stagingRoot(this.dataDir), stagingId);
  }

  /** Removes leftovers of earlier runs (a host killed mid-upload), once per process. */
  private async cleanStale(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    const root = stagingRoot(this.dataDir);
    const entries = await readdir(root).catch(() => [] as string[]);
    for (const name of entries) if (!this.written.has(name)) await rm(join(root, name), { recursive: true, force: true });
  }

  async begin(): Promise<{ stagingId: string; chunkBytes: number }> {
    await this.cleanStale();
    const stagingId = toHex(randomBytes(16));
    await mkdir(stagingRoot(this.dataDir), { recursive: true, mode: 0o700 });
    await mkdir(this.dirOf(stagingId), { mode: 0o700 });
    this.written.set(stagingId, new Map());
    return { stagingId, chunkBytes: STAGE_CHUNK_BYTES };
  }

  async write(stagingId: string, path: string, offset: number, bytes: Uint8Array): Promise<number> {
    const files = this.written.get(stagingId);
    if (files === undefined) throw new AppError('NOT_FOUND', 'This upload is no longer staged (the app restarted or it was discarded). Drop the model again.');
    if (bytes.length > STAGE_CHUNK_BYTES) throw new AppError('LIMIT_EXCEEDED', `An upload chunk is at most ${STAGE_CHUNK_BYTES} bytes.`);
    const done = files.get(path);
    if ((done ?? 0) !== offset) throw new AppError('VALIDATION', 'Upload chunks arrived out of order. Drop the model again.');
    if (done === undefined && files.size >= MAX_STAGED_FILES) throw new AppError('LIMIT_EXCEEDED', `A dropped model may hold at most ${MAX_STAGED_FILES} files.`);
    let total = bytes.length;
    for (const n of files.values()) total += n;
    if (total > MAX_STAGED_BYTES) throw new AppError('LIMIT_EXCEEDED', 'The dropped model is larger than 512 GB: package it with `model-vault package` instead.');
    const root = this.dirOf(stagingId);
    const target = resolve(root, path);
    if (!target.startsWith(root + sep)) throw new AppError('VALIDATION', 'A dropped file path leaves its folder.');
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    const handle = await open(target, done === undefined ? 'wx' : 'r+', 0o600).catch((e: unknown) => {
      throw new AppError(codeOf(e) === 'EEXIST' ? 'ALREADY_EXISTS' : 'IO_ERROR', codeOf(e) === 'EEXIST' ? 'The same file was dropped twice.' : `Cannot write the staged upload (${codeOf(e) || 'error'}). Check free space in the data folder.`);
    });
    try {
      let w = 0;
      while (w < bytes.length) w += (await handle.write(bytes, w, bytes.length - w, offset + w)).bytesWritten;
    } finally {
      await handle.close();
    }
    files.set(path, offset + bytes.length);
    return offset + bytes.length;
  }

  async discard(stagingId: string): Promise<boolean> {
    const known = this.written.delete(stagingId);
    const dir = this.dirOf(stagingId);
    const exists = await stat(dir).then(() => true, () => false);
    await rm(dir, { recursive: true, force: true });
    return known || exists;
  }

  /**
   * The one path the scanner and the packager read: a staged folder, one dropped folder or file, or (several loose
   * files in Electron) a fresh staging folder of hard links to them. `release` removes what staging created.
   */
  async resolveSource(source: ModelSource): Promise<{ path: string; name: string; staged: string | undefined }> {
    if (source.kind === 'staged') {
      if (!this.written.has(source.stagingId)) throw new AppError('NOT_FOUND', 'This upload is no longer staged (the app restarted or it was discarded). Drop the model again.');
      const dir = this.dirOf(source.stagingId);
      const entries = await readdir(dir);
      // A dropped folder arrives as one top-level folder: package that folder, named after it.
      const only = entries.length === 1 ? entries[0] : undefined;
      if (only !== undefined && (await lstat(join(dir, only))).isDirectory()) return { path: join(dir, only), name: only, staged: source.stagingId };
      if (only !== undefined && only.endsWith('.safetensors')) return { path: join(dir, only), name: only.replace(/\.safetensors$/, ''), staged: source.stagingId };
      return { path: dir, name: 'Dropped model', staged: source.stagingId };
    }
    const paths = source.paths.map((p) => resolve(p));
    for (const p of paths) {
      const st = await lstat(p).catch((e: unknown) => {
        throw new AppError('NOT_FOUND', `Cannot read ${basename(p)} (${codeOf(e) || 'error'}). Check that it still exists.`);
      });
      if (!st.isFile() && !st.isDirectory()) throw new AppError('VALIDATION', `${basename(p)} is neither a file nor a folder.`);
    }
    const first = paths[0] as string;
    if (paths.length === 1) return { path: first, name: basename(first).replace(/\.safetensors$/, ''), staged: undefined };
    // Several items: gather them into one staging folder without copying data where the file system allows.
    const { stagingId } = await this.begin();
    const dir = this.dirOf(stagingId);
    try {
      for (const p of paths) {
        if ((await lstat(p)).isDirectory()) throw new AppError('VALIDATION', 'Drop one model folder, or the files of one model — not several folders.');
        const target = join(dir, basename(p));
        await link(p, target).catch(async (e: unknown) => {
          if (codeOf(e) === 'EEXIST') throw new AppError('VALIDATION', `Two dropped files are both named ${basename(p)}.`);
          await copyFile(p, target);
        });
      }
    } catch (e) {
      await this.discard(stagingId);
      throw e;
    }
    return { path: dir, name: basename(dirname(first)), staged: stagingId };
  }
}
