/**
 * Worker thread for bulk chunk AEAD (node:crypto). Jobs are batches of consecutive v2 chunks of one tensor:
 * `seal` returns ciphertext + tags; `open` / `open-file` authenticate every chunk (plaintext goes only into memory the
 * caller does not release before the whole job succeeded). The worker wipes its copy of the data key after each job
 * and keeps one reusable read buffer; file descriptors are cached for a few paths.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { isAppError } from '../../errors.ts';
import { TAG_BYTES } from '../../crypto/aead.ts';
import { chunkNonce } from '../../format/tensor-cipher.ts';
import { nodeAead } from './node-aead.ts';
import type { ChunkJob, ChunkResult } from './aead-pool.ts';

const MAX_FDS = 8;
const fds = new Map<string, number>();
let scratch = new Uint8Array(0);

function fdFor(path: string): number {
  let fd = fds.get(path);
  if (fd !== undefined) {
    fds.delete(path);
    fds.set(path, fd); // most recently used last
    return fd;
  }
  fd = openSync(path, 'r');
  fds.set(path, fd);
  if (fds.size > MAX_FDS) {
    const [oldPath, oldFd] = fds.entries().next().value as [string, number];
    fds.delete(oldPath);
    closeSync(oldFd);
  }
  return fd;
}

function readInto(path: string, position: number, length: number): Uint8Array {
  if (scratch.length < length) scratch = new Uint8Array(length);
  const buf = scratch.subarray(0, length);
  const fd = fdFor(path);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw Object.assign(new Error('short read'), { appCode: 'IO_ERROR' });
    done += n;
  }
  return buf;
}

function openChunks(job: ChunkJob, data: Uint8Array, tags: Uint8Array, out: Uint8Array): void {
  const count = Math.ceil(data.length / job.chunkSize);
  for (let i = 0; i < count; i++) {
    const start = i * job.chunkSize;
    const end = Math.min(data.length, start + job.chunkSize);
    out.set(nodeAead.open(job.alg, job.key, chunkNonce(job.baseIv, job.firstIndex + i), data.subarray(start, end), tags.subarray(i * TAG_BYTES, (i + 1) * TAG_BYTES)), start);
  }
}

function run(job: ChunkJob): { result: ChunkResult; transfer: ArrayBuffer[] } {
  try {
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
      return { result: { id: job.id, ok: true, data: job.data, tags: tags.buffer }, transfer: [job.data, tags.buffer] };
    }
    if (job.op === 'open') {
      const data = new Uint8Array(job.data);
      const out = new Uint8Array(data.length);
      openChunks(job, data, new Uint8Array(job.tags), out);
      return { result: { id: job.id, ok: true, data: out.buffer, tags: null }, transfer: [out.buffer] };
    }
    const data = readInto(job.path, job.position, job.length);
    const out = new Uint8Array(job.length);
    try {
      openChunks(job, data, new Uint8Array(job.tags), out);
    } catch (e) {
      out.fill(0);
      throw e;
    }
    return { result: { id: job.id, ok: true, data: out.buffer, tags: null }, transfer: [out.buffer] };
  } catch (e) {
    const code = isAppError(e) ? e.code : (e as { appCode?: string }).appCode ?? 'INTERNAL';
    return { result: { id: job.id, ok: false, code, message: isAppError(e) ? e.message : code === 'IO_ERROR' ? 'The file shrank while it was being read.' : 'AEAD worker failed.' }, transfer: [] };
  } finally {
    job.key.fill(0);
  }
}

parentPort?.on('message', (job: ChunkJob) => {
  const { result, transfer } = run(job);
  parentPort?.postMessage(result, transfer);
});
