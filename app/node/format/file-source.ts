/** A `ByteSource` over a file: positional reads through one FileHandle. */
import { open, type FileHandle } from 'node:fs/promises';
import { AppError } from '../../errors.ts';
import { parseModelHeader, type ByteSource, type ModelHeader } from '../../format/reader.ts';
import { PREFIX_BYTES, readHeaderLength } from '../../format/safetensors.ts';

export async function openFileSource(path: string): Promise<ByteSource & { readonly handle: FileHandle }> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw ioError('open', e);
  }
  const st = await handle.stat();
  if (!st.isFile()) {
    await handle.close();
    throw new AppError('IO_ERROR', 'Not a regular file.');
  }
  const size = st.size;
  return {
    size,
    handle,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (offset < 0 || length < 0 || offset + length > size) throw new AppError('IO_ERROR', 'Read beyond the end of the file.');
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) throw new AppError('IO_ERROR', 'The file shrank while it was being read.');
        done += bytesRead;
      }
      return buf;
    },
    async close(): Promise<void> {
      await handle.close();
    },
  };
}

export function ioError(op: string, e: unknown): AppError {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String((e).code) : 'unknown';
  if (code === 'ENOENT') return new AppError('NOT_FOUND', `Cannot ${op}: no such file or folder.`);
  return new AppError('IO_ERROR', `Cannot ${op} (${code}). Check the path and permissions.`);
}

/** The header bytes (length prefix included) of a model file: what the broker hashes and personalizes. */
export async function readHeaderBytesOfFile(path: string): Promise<Uint8Array> {
  const src = await openFileSource(path);
  try {
    return (await readModelHeader(src)).bytes;
  } finally {
    await src.close?.();
  }
}

/** Reads a safetensors or CryptoTensors header from a source: its bytes (length prefix included) and the parse. */
export async function readModelHeader(src: ByteSource): Promise<{ readonly bytes: Uint8Array; readonly parsed: ModelHeader }> {
  const n = readHeaderLength(await src.read(0, Math.min(PREFIX_BYTES, src.size)), src.size);
  const bytes = await src.read(0, PREFIX_BYTES + n);
  return { bytes, parsed: parseModelHeader(bytes.subarray(PREFIX_BYTES), src.size) };
}
