/** Scanning a model to package: its files, shards, tensors, dtypes and sizes, from the headers only. */
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AppError } from '../../../errors.ts';
import type { ModelSource, ScanSummary, ScannedFile, ScannedTensor } from '../../../ipc/ops/producer.ts';
import { folderLayout } from '../../format/package.ts';
import { readHeaderOf } from '../../format/inspect.ts';

export async function scanModel(path: string, name: string, source: ModelSource): Promise<ScanSummary> {
  const st = await stat(path);
  const files: ScannedFile[] = [];
  let shardPaths: { rel: string; abs: string }[];
  if (st.isFile()) {
    if (!path.endsWith('.safetensors')) throw new AppError('VALIDATION', 'Drop a model folder or .safetensors files: this file is not safetensors.');
    shardPaths = [{ rel: basename(path), abs: path }];
  } else {
    const layout = await folderLayout(path);
    if (layout.shards.length === 0) throw new AppError('VALIDATION', 'The folder has no .safetensors files. Drop the folder that holds the model shards.');
    shardPaths = layout.shards.map((rel) => ({ rel, abs: join(path, rel) }));
    for (const rel of layout.others) files.push({ path: rel, bytes: (await stat(join(path, rel))).size, kind: 'other' });
  }
  const tensors: ScannedTensor[] = [];
  const dtypes: Record<string, number> = {};
  let alreadyEncrypted = false;
  let tensorBytes = 0;
  for (const s of shardPaths) {
    const { parsed, size } = await readHeaderOf(s.abs);
    files.push({ path: s.rel, bytes: size, kind: 'shard' });
    if (parsed.crypto !== null) alreadyEncrypted = true;
    for (const t of parsed.header.tensors) {
      const bytes = t.end - t.begin;
      tensors.push({ name: t.name, shard: s.rel, dtype: t.dtype, shape: t.shape.map(Number), bytes });
      dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
      tensorBytes += bytes;
    }
  }
  files.sort((a, b) => (a.kind === b.kind ? a.path.localeCompare(b.path) : a.kind === 'shard' ? -1 : 1));
  return {
    name,
    location: path,
    source,
    files,
    shards: shardPaths.length,
    tensors,
    dtypes,
    totalBytes: files.reduce((a, f) => a + f.bytes, 0),
    tensorBytes,
    alreadyEncrypted,
  };
}
