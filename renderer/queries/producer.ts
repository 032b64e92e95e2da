/**
 * The producer view's calls (app/ipc/ops/producer.ts): react-query hooks for what is read, plain functions for the
 * long tasks (run through useTask) and for getting a dropped model to the services.
 *
 * How a dropped model reaches the services:
 * - Electron: the preload gives each dropped File's path (`api.pathForFile`); the folder is read in place.
 * - Web host (a browser on the same machine, no paths): the files are uploaded in order, 512 KiB at a time, into a
 *   private staging folder of the data directory (`producer:stage*`), which the services remove after packaging.
 */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { RequestOf, Result } from '../../app/ipc/contract.ts';
import type { MasterAlgName, ModelSource, PackageOutcome, PublishOutcome, ScanSummary, VerifyView } from '../../app/ipc/ops/producer.ts';
import { api, unwrap } from '../lib/api.ts';

export const producerKeys = {
  identity: ['producer', 'identity'] as const,
  models: ['producer', 'models'] as const,
  keys: (alg: MasterAlgName) => ['producer', 'keys', alg] as const,
};

export function useProducerIdentity() {
  return useQuery({ queryKey: producerKeys.identity, queryFn: () => unwrap(api.producer.identity({})) });
}

export function useProducerModels() {
  return useQuery({ queryKey: producerKeys.models, queryFn: () => unwrap(api.producer.models({})) });
}

/** The producer's keys for an algorithm (created in the key store on first use): kid and fingerprint only. */
export function useProducerKeyInfo(alg: MasterAlgName, enabled: boolean) {
  return useQuery({ queryKey: producerKeys.keys(alg), queryFn: () => unwrap(api.producer.keys({ alg })), enabled, staleTime: Infinity });
}

export function useEnrollProducer() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (req: RequestOf<'producer:enroll'>) => unwrap(api.producer.enroll(req)),
    onSuccess: (identity) => client.setQueryData(producerKeys.identity, identity),
  });
}

export function useApproveSubscription() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (subscriptionId: string) => unwrap(api.producer.approve({ subscriptionId })),
    onSuccess: () => void client.invalidateQueries({ queryKey: producerKeys.models }),
  });
}

export function scanModel(source: ModelSource): Promise<ScanSummary> {
  return unwrap(api.producer.scan({ source }));
}

export function discardStaged(stagingId: string): void {
  void api.producer.stageDiscard({ stagingId });
}

export function packageModel(taskId: string, req: Omit<RequestOf<'producer:package'>, 'taskId'>): Promise<Result<PackageOutcome>> {
  return api.producer.package({ ...req, taskId });
}

export function publishModel(taskId: string, req: Omit<RequestOf<'producer:publish'>, 'taskId'>): Promise<Result<PublishOutcome>> {
  return api.producer.publish({ ...req, taskId });
}

export function verifyModel(taskId: string, path: string): Promise<Result<VerifyView>> {
  return api.model.verify({ taskId, path });
}

/** True where the host shows native dialogs and gives dropped files' paths (Electron). */
export const hasNativeFiles = api.pathForFile !== undefined;

/** Native open dialog (Electron); undefined when the user cancelled. */
export async function chooseWithDialog(pick: 'folder' | 'files'): Promise<ModelSource | undefined> {
  const { paths } = await unwrap(api.dialog.openModel({ pick }));
  return paths.length === 0 ? undefined : { kind: 'paths', paths: [...paths] };
}

/** Native save dialog (Electron); null when the user cancelled. */
export async function chooseOutput(suggestedName: string): Promise<string | null> {
  return (await unwrap(api.dialog.chooseOutput({ suggestedName }))).path;
}

// ---------------------------------------------------------------------------------------------------------------
// Dropped files
// ---------------------------------------------------------------------------------------------------------------

/** A dropped file with its path inside the drop (`folder/sub/file`). */
export interface DroppedFile {
  readonly path: string;
  readonly file: File;
}

function readAllEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => {
    const all: FileSystemEntry[] = [];
    const next = (): void =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(all);
        else {
          all.push(...batch);
          next();
        }
      }, reject);
    next();
  });
}

async function walkEntry(entry: FileSystemEntry, prefix: string, out: DroppedFile[]): Promise<void> {
  const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ path, file });
  } else if (entry.isDirectory) {
    if (entry.name === '.git') return;
    for (const child of await readAllEntries((entry as FileSystemDirectoryEntry).createReader())) await walkEntry(child, path, out);
  }
}

/** What a drop holds: folders are walked (their relative paths kept); loose files keep their names. */
export async function droppedFiles(data: DataTransfer): Promise<{ files: DroppedFile[]; raw: File[] }> {
  const raw = Array.from(data.files);
  const entries = Array.from(data.items)
    .map((item) => (typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null))
    .filter((e): e is FileSystemEntry => e !== null);
  const out: DroppedFile[] = [];
  if (entries.length > 0) for (const e of entries) await walkEntry(e, '', out);
  else for (const f of raw) out.push({ path: f.name, file: f });
  return { files: out, raw };
}

/** Files chosen in an `<input type=file>` (with `webkitdirectory`, paths are relative to the chosen folder's parent). */
export function pickedFiles(list: FileList): DroppedFile[] {
  return Array.from(list).map((file) => ({ path: file.webkitRelativePath === '' ? file.name : file.webkitRelativePath, file }));
}

/** Electron: the dropped items' own paths. */
export function pathsOf(raw: readonly File[]): ModelSource | undefined {
  const toPath = api.pathForFile;
  if (toPath === undefined) return undefined;
  const paths = raw.map((f) => toPath(f)).filter((p) => p !== '');
  return paths.length === 0 ? undefined : { kind: 'paths', paths };
}

/**
 * Web host: uploads the files into a new staging folder, reporting bytes sent. Abortable; on abort or failure the
 * staging folder is removed.
 */
export async function stageFiles(files: readonly DroppedFile[], onProgress: (sent: number, total: number) => void, signal: AbortSignal): Promise<ModelSource> {
  const { stagingId, chunkBytes } = await unwrap(api.producer.stageBegin({}));
  const total = files.reduce((a, f) => a + f.file.size, 0);
  let sent = 0;
  try {
    for (const f of files) {
      let offset = 0;
      do {
        if (signal.aborted) throw new DOMException('The upload was cancelled.', 'AbortError');
        const bytes = new Uint8Array(await f.file.slice(offset, offset + chunkBytes).arrayBuffer());
        await unwrap(api.producer.stageWrite({ stagingId, path: f.path, offset, bytes }));
        offset += bytes.length;
        sent += bytes.length;
        onProgress(sent, total);
      } while (offset < f.file.size);
    }
  } catch (e) {
    discardStaged(stagingId);
    throw e;
  }
  return { kind: 'staged', stagingId };
}
