/**
 * Worker thread for bulk tensor work (node:crypto). Jobs:
 * - `seal` / `open`: batches of consecutive v2 chunks of one tensor held in a transferred buffer (the packager).
 * - `open-file`: read a tensor's ciphertext (or a run of its chunks) straight from the reader's file descriptor and
 *   authenticate + decrypt every chunk into one fresh buffer, transferred back only after every tag checked.
 * - `read-file`: read a plaintext tensor from the descriptor into a fresh buffer, hashing it on the way (SHA-256)
 *   when the caller has a signed digest to check.
 *
 * The file is read in pieces of at most one default chunk into a reused scratch buffer and each piece is decrypted
 * with one update call straight into the result (no joining of per-chunk buffers on the main thread). A v1 tensor is one message of `chunkSize = length` (its nonce is `chunkNonce(iv, 0)`, i.e. `iv`). The
 * worker wipes its copy of the data key after each job, and the result when any chunk fails.
 */
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { AppError, isAppError } from '../../errors.ts';
import { TAG_BYTES, decryptFailed } from '../../crypto/aead.ts';
import { chunkNonce } from '../../format/tensor-cipher.ts';
import { nodeAead, streamOpener } from './node-aead.ts';
import type { ChunkJob, ChunkResult, OpenFileJob, OpenJob, ReadFileJob } from './aead-pool.ts';

/**
 * Bytes per read system call and per node:crypto update call (the default v2 chunk size). node:crypto returns a fresh
 * buffer from every update call: measured on the 2-core VM (CPU seconds per GB, best of rounds), 64 KiB pieces cost
 * about 1.5x more than 2 MiB ones, because each small output buffer is a V8 external allocation (zero-filled, GC
 * pressure) and the allocator keeps returning that memory to the kernel.
 */
const PIECE = 2 * 1024 * 1024;
const scratch = new Uint8Array(PIECE);

function readFully(fd: number, into: Uint8Array, position: number): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw new AppError('IO_ERROR', 'The file shrank while it was being read.');
    done += n;
  }
}

function openChunks(job: OpenJob, data: Uint8Array, tags: Uint8Array, out: Uint8Array): void {
  const count = Math.ceil(data.length / job.chunkSize);
  for (let i = 0; i < count; i++) {
    const start = i * job.chunkSize;
    const end = Math.min(data.length, start + job.chunkSize);
    out.set(nodeAead.open(job.alg, job.key, chunkNonce(job.baseIv, job.firstIndex + i), data.subarray(start, end), tags.subarray(i * TAG_BYTES, (i + 1) * TAG_BYTES)), start);
  }
}

/** Reads and opens `job.length` bytes of chunks; the result is released only when every chunk authenticated. */
function openFile(job: OpenFileJob): ArrayBuffer {
  const tags = new Uint8Array(job.tags);
  const count = Math.ceil(job.length / job.chunkSize);
  if (tags.length !== count * TAG_BYTES) throw decryptFailed();
  const out = new Uint8Array(job.length);
  try {
    for (let i = 0; i < count; i++) {
      const start = i * job.chunkSize;
      const end = Math.min(job.length, start + job.chunkSize);
      const opener = streamOpener(job.alg, job.key, chunkNonce(job.baseIv, job.firstIndex + i), tags.subarray(i * TAG_BYTES, (i + 1) * TAG_BYTES));
      for (let p = start; p < end; p += PIECE) {
        const piece = scratch.subarray(0, Math.min(PIECE, end - p));
        readFully(job.fd, piece, job.position + p);
        const plain = opener.update(piece);
        if (plain.length !== piece.length) throw decryptFailed();
        out.set(plain, p); // (not wiped: it is the plaintext the caller receives; a wipe is one more pass over every byte)
      }
      opener.final();
    }
  } catch (e) {
    out.fill(0);
    throw e;
  }
  return out.buffer;
}

function readFile(job: ReadFileJob): { data: ArrayBuffer; digest: ArrayBuffer | null } {
  const out = new Uint8Array(job.length);
  const hash = job.digest ? createHash('sha256') : null;
  for (let p = 0; p < out.length; p += PIECE) {
    const piece = out.subarray(p, p + PIECE);
    readFully(job.fd, piece, job.position + p);
    hash?.update(piece);
  }
  const d = hash?.digest();
  return { data: out.buffer, digest: d === undefined ? null : d.buffer.slice(d.byteOffset, d.byteOffset + d.length) };
}

function run(job: ChunkJob): { result: ChunkResult; transfer: ArrayBuffer[] } {
  try {
    if (job.op === 'read-file') {
      const { data, digest } = readFile(job);
      return { result: { id: job.id, ok: true, data, tags: null, digest }, transfer: digest === null ? [data] : [data, digest] };
    }
    if (job.op === 'seal') {
      const data = new Uint8Array(job.data);
      const count = Math.ceil(data.length / job.chunkSize);
      const tags = new Uint8Array(count * TAG_BYTES);
      for (let i = 0; i < count; i++) {
        const start = i * job.chunkSize;
        const end = Math.min(data.length, start + job.chunkSize);
        const sealed = nodeAead.seal(job.alg, job.key, chunkNonce(job.baseIv, job.firstIndex + i), data.subarray(start, end));
        data.set(sealed.ciphertext, start);
        tags.set(sealed.tag, i * TAG_BYTES);
      }
      return { result: { id: job.id, ok: true, data: job.data, tags: tags.buffer, digest: null }, transfer: [job.data, tags.buffer] };
    }
    if (job.op === 'open') {
      const data = new Uint8Array(job.data);
      const out = new Uint8Array(data.length);
      openChunks(job, data, new Uint8Array(job.tags), out);
      return { result: { id: job.id, ok: true, data: out.buffer, tags: null, digest: null }, transfer: [out.buffer] };
    }
    const data = openFile(job);
    return { result: { id: job.id, ok: true, data, tags: null, digest: null }, transfer: [data] };
  } catch (e) {
    const code = isAppError(e) ? e.code : typeof e === 'object' && e !== null && 'code' in e ? 'IO_ERROR' : 'INTERNAL';
    return { result: { id: job.id, ok: false, code, message: isAppError(e) ? e.message : code === 'IO_ERROR' ? 'The model file could not be read.' : 'AEAD worker failed.' }, transfer: [] };
  } finally {
    if (job.op !== 'read-file') job.key.fill(0);
  }
}

parentPort?.on('message', (job: ChunkJob) => {
  const { result, transfer } = run(job);
  parentPort?.postMessage(result, transfer);
});
