/**
 * From a drop (or a folder picker) to a model source for `subscriber:import`. In Electron the preload gives each
 * dropped item's path, so nothing is copied; in a browser (web host) the files are read with the File System entry
 * API (folders recursively) and uploaded in order, one chunk at a time, into a staging folder (`subscriber:stage*`).
 */
import type { ModelSource } from '../../../app/ipc/ops/producer.ts';
import { subscriberStaging } from '../../queries/subscriber.ts';

export interface PickedFile {
  /** Path relative to the drop, `/`-separated (a dropped folder keeps its name as the first segment). */
  readonly path: string;
  readonly file: File;
}

export interface Picked {
  readonly name: string;
  readonly files: readonly PickedFile[];
  /** Electron: the dropped items' paths on disk. */
  readonly paths?: readonly string[];
  readonly bytes: number;
}

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry: FileSystemEntry, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    out.push({ path: entry.fullPath.replace(/^\/+/, ''), file: await fileOf(entry as FileSystemFileEntry) });
    return;
  }
  if (!entry.isDirectory) return;
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  for (;;) {
    const batch = await readEntries(reader);
    if (batch.length === 0) break;
    for (const e of batch) await walk(e, out);
  }
}

function summarize(files: PickedFile[], paths?: string[]): Picked {
  const top = new Set(files.map((f) => f.path.split('/')[0] ?? f.path));
  const name = top.size === 1 ? ([...top][0] ?? 'dropped model') : `${files.length} files`;
  return { name: name.replace(/\.safetensors$/, ''), files, bytes: files.reduce((a, f) => a + f.file.size, 0), ...(paths === undefined ? {} : { paths }) };
}

/** What was dropped: files with their relative paths (and, in Electron, the paths on disk). */
export async function pickedFromDrop(data: DataTransfer): Promise<Picked> {
  const items = Array.from(data.items).filter((i) => i.kind === 'file');
  const pathFor = subscriberStaging.pathForFile;
  if (pathFor !== undefined) {
    const files = Array.from(data.files);
    return summarize(files.map((file) => ({ path: file.name, file })), files.map((f) => pathFor(f)));
  }
  const entries = items.map((i) => i.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  const out: PickedFile[] = [];
  for (const e of entries) await walk(e, out);
  return summarize(out);
}

/** What a folder input (`webkitdirectory`) or a file input chose. */
export function pickedFromInput(list: FileList): Picked {
  return summarize(Array.from(list, (file) => ({ path: file.webkitRelativePath === '' ? file.name : file.webkitRelativePath, file })));
}

/**
 * The source to import: Electron paths as they are, or the files uploaded into a staging folder (progress in
 * bytes; a cancel discards the staging folder).
 */
export async function sourceOf(p: Picked, onProgress: (done: number, total: number) => void, signal: { readonly aborted: boolean }): Promise<ModelSource> {
  if (p.paths !== undefined && p.paths.length > 0) return { kind: 'paths', paths: [...p.paths] };
  const { stagingId, chunkBytes } = await subscriberStaging.begin();
  let done = 0;
  try {
    for (const f of p.files) {
      for (let offset = 0; offset < f.file.size || (offset === 0 && f.file.size === 0); offset += chunkBytes) {
        if (signal.aborted) throw new Error('cancelled');
        const bytes = new Uint8Array(await f.file.slice(offset, offset + chunkBytes).arrayBuffer());
        await subscriberStaging.write({ stagingId, path: f.path, offset, bytes });
        done += bytes.length;
        onProgress(done, p.bytes);
        if (f.file.size === 0) break;
      }
    }
  } catch (e) {
    await subscriberStaging.discard(stagingId).catch(() => undefined);
    throw e;
  }
  return { kind: 'staged', stagingId };
}
