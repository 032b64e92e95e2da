/**
 * The read-only view a mount serves, the same for FUSE and HTTP: for a model folder, every shard as a decrypted
 * plain safetensors file (plain-view.ts) and every side file (config, tokenizer, index …) exactly as listed in the
 * signed manifest; for a single file, that file as `model.safetensors` (or its own name when it ends in
 * `.safetensors`).
 *
 * Opening the view verifies what can be verified without decrypting everything: each shard's structure, signature
 * by a trusted signer (before any key lookup), policy and key; that all shards carry one signed manifest that lists
 * exactly the shards and side files present; and that every side file matches its signed SHA-256. Side files are
 * read once into memory and served from there, so a file changed after the check is never served. Tensor data is
 * authenticated chunk by chunk as it is read (AEAD tags and signed digests): a tampered chunk fails its read.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AppError } from '../../errors.ts';
import { toHex } from '../../crypto/encoding.ts';
import { createSha256 } from '../../crypto/sha256.ts';
import { parseManifest } from '../../format/manifest.ts';
import { openModelSource, type ByteSource, type ModelHandle } from '../../format/reader.ts';
import { ioError, openFileSource, readModelHeader } from '../format/file-source.ts';
import { nodeAead } from '../format/node-aead.ts';
import { openModel, type NodeOpenOptions } from '../format/open-model.ts';
import { folderLayout } from '../format/package.ts';
import { ChunkCache, DEFAULT_CACHE_BYTES, type CacheStats } from './chunk-cache.ts';
import { plainViewOf, type PlainView } from './plain-view.ts';

/** Side files are held in memory: a bound on their total size. */
export const MAX_SIDE_FILE_BYTES = 256 * 1024 * 1024;

export interface ViewFile {
  /** `/`-separated path inside the mount. */
  readonly path: string;
  readonly kind: 'weights' | 'side';
  readonly size: number;
}

export interface MountView {
  readonly files: readonly ViewFile[];
  /** Every folder path inside the mount ('' is the root). */
  readonly dirs: ReadonlySet<string>;
  readonly signer: { readonly kid?: string; readonly fingerprint: string } | null;
  file(path: string): ViewFile | undefined;
  /** Copies bytes [offset, offset + out.length) of a file into `out`; returns how many (0 at the end). */
  read(path: string, offset: number, out: Uint8Array): Promise<number>;
  cacheStats(): CacheStats;
  close(): Promise<void>;
}

export interface ViewOptions extends NodeOpenOptions {
  /** Plaintext cache budget shared by all files of the view (default 64 MiB). */
  readonly cacheBytes?: number;
  /** Checked before every read: throws (LICENCE_EXPIRED, LICENCE_REVOKED …) when the mount must stop serving. */
  readonly guard?: () => void;
  /**
   * Newer headers for some weights files (path in the folder, or the file's name) — e.g. personalized headers the
   * broker sent at key release. They replace the file's own header in memory; the file on disk is not changed.
   */
  readonly headerOverrides?: ReadonlyMap<string, Uint8Array>;
}

/** A file whose header is replaced by `header`: the data section is read from the file after its own header. */
async function overlaySource(path: string, header: Uint8Array): Promise<ByteSource> {
  const file = await openFileSource(path);
  try {
    const own = (await readModelHeader(file)).bytes.length;
    const dataLength = file.size - own;
    return {
      size: header.length + dataLength,
      async read(offset, length) {
        if (offset < 0 || length < 0 || offset + length > header.length + dataLength) throw new AppError('IO_ERROR', 'Read beyond the end of the file.');
        if (offset + length <= header.length) return header.slice(offset, offset + length);
        if (offset >= header.length) return file.read(own + offset - header.length, length);
        const out = new Uint8Array(length);
        out.set(header.subarray(offset), 0);
        out.set(await file.read(own, offset + length - header.length), header.length - offset);
        return out;
      },
      close: () => file.handle.close(),
    };
  } catch (e) {
    await file.handle.close();
    throw e;
  }
}

type Source = { readonly kind: 'weights'; readonly view: PlainView } | { readonly kind: 'side'; readonly bytes: Uint8Array };

function manifestMismatch(message: string): AppError {
  return new AppError('MANIFEST_MISMATCH', `${message} Refusing to mount: obtain a fresh copy of the model from its publisher.`);
}

export async function openMountView(path: string, options: ViewOptions = {}): Promise<MountView> {
  const st = await stat(path).catch((e: unknown) => {
    throw ioError('read the model', e);
  });
  const cache = new ChunkCache(options.cacheBytes ?? DEFAULT_CACHE_BYTES);
  const handles: ModelHandle[] = [];
  const sources = new Map<string, Source>();
  const open = async (file: string, label: string): Promise<ModelHandle> => {
    const override = options.headerOverrides?.get(label);
    let h: ModelHandle;
    if (override === undefined) h = await openModel(file, { ...options, parallel: false });
    else {
      const src = await overlaySource(file, override);
      try {
        h = await openModelSource(src, { aead: nodeAead, ...options });
      } catch (e) {
        await src.close?.();
        throw e;
      }
    }
    handles.push(h);
    if (!h.encrypted) throw new AppError('SIGNATURE_MISSING', 'The model is plain safetensors: it is neither encrypted nor signed, so there is nothing to mount.');
    return h;
  };
  try {
    if (st.isFile()) {
      const h = await open(path, basename(path));
      const name = basename(path).endsWith('.safetensors') ? basename(path) : 'model.safetensors';
      sources.set(name, { kind: 'weights', view: plainViewOf(h, cache) });
    } else {
      const { shards, others } = await folderLayout(path);
      if (shards.length === 0) throw new AppError('VALIDATION', 'The folder has no .safetensors files: choose a packaged model folder.');
      const manifests = new Set<string>();
      for (const s of shards) {
        const h = await open(join(path, s), s);
        manifests.add(h.parsed.manifestText ?? '');
        sources.set(s, { kind: 'weights', view: plainViewOf(h, cache) });
      }
      if (manifests.size !== 1 || manifests.has('')) throw manifestMismatch('The shards do not all carry the same signed folder manifest.');
      const m = parseManifest([...manifests][0] as string);
      if (m.shards.length !== shards.length || m.shards.some((s) => !shards.includes(s))) throw manifestMismatch('The shards present differ from the shards in the signed manifest.');
      const listed = Object.keys(m.files);
      if (listed.length !== others.length || listed.some((f) => !others.includes(f))) throw manifestMismatch('The side files present differ from the files in the signed manifest.');
      let total = 0;
      for (const f of others) {
        const bytes = new Uint8Array(await readFile(join(path, f)));
        total += bytes.length;
        if (total > MAX_SIDE_FILE_BYTES) throw new AppError('LIMIT_EXCEEDED', 'The side files (config, tokenizer …) are larger than 256 MiB in total; they cannot be served from memory.');
        if (toHex(createSha256().update(bytes).digest()) !== m.files[f]) throw manifestMismatch(`${f} was changed after signing.`);
        sources.set(f, { kind: 'side', bytes });
      }
    }
  } catch (e) {
    cache.close();
    await Promise.all(handles.map((h) => h.close()));
    throw e;
  }

  const files: ViewFile[] = [...sources].map(([p, s]) => ({ path: p, kind: s.kind, size: s.kind === 'weights' ? s.view.size : s.bytes.length })).sort((a, b) => (a.path < b.path ? -1 : 1));
  const byPath = new Map(files.map((f) => [f.path, f]));
  const dirs = new Set<string>(['']);
  for (const f of files) {
    const parts = f.path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  let closed = false;
  const guard = options.guard ?? ((): void => undefined);

  return {
    files,
    dirs,
    signer: handles[0]?.signer ?? null,
    file: (p) => byPath.get(p),
    async read(p, offset, out) {
      if (closed) throw new AppError('MOUNT_FAILED', 'The mount was stopped.');
      guard();
      const s = sources.get(p);
      if (s === undefined) throw new AppError('NOT_FOUND', 'No such file in the mounted model.');
      if (s.kind === 'side') {
        if (offset >= s.bytes.length) return 0;
        const part = s.bytes.subarray(offset, offset + out.length);
        out.set(part);
        return part.length;
      }
      return s.view.read(offset, out);
    },
    cacheStats: () => cache.stats(),
    async close() {
      if (closed) return;
      closed = true;
      cache.close();
      await Promise.all(handles.map((h) => h.close()));
    },
  };
}
