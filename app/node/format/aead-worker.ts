/**
 * Worker thread for bulk chunk AEAD (node:crypto). A job is a batch of consecutive v2 chunks of one tensor:
 * seal returns ciphertext + tags; open authenticates every chunk before returning any plaintext. The worker wipes
 * its copy of the data key after each job. Messages carry no secrets back except the requested output.
 */
import { parentPort } from 'node:worker_threads';
import { isAppError } from '../../errors.ts';
import { TAG_BYTES } from '../../crypto/aead.ts';
import { chunkNonce } from '../../format/tensor-cipher.ts';
import { nodeAead } from './node-aead.ts';
import type { ChunkJob, ChunkResult } from './aead-pool.ts';

function run(job: ChunkJob): ChunkResult {
  const data = new Uint8Array(job.data);
  const count = Math.ceil(data.length / job.chunkSize);
  try {
    if (job.op === 'seal') {
      const tags = new Uint8Array(count * TAG_BYTES);
      for (let i = 0; i < count; i++) {
        const start = i * job.chunkSize;
        const end = Math.min(data.length, start + job.chunkSize);
        const sealed = nodeAead.seal(job.alg, job.key, chunkNonce(job.baseIv, job.firstIndex + i), data.subarray(start, end));
        data.set(sealed.ciphertext, start);
        tags.set(sealed.tag, i * TAG_BYTES);
      }
      return { id: job.id, ok: true, data: job.data, tags: tags.buffer };
    }
    const tags = new Uint8Array(job.tags as ArrayBuffer);
    const out = new Uint8Array(data.length);
    for (let i = 0; i < count; i++) {
      const start = i * job.chunkSize;
      const end = Math.min(data.length, start + job.chunkSize);
      out.set(nodeAead.open(job.alg, job.key, chunkNonce(job.baseIv, job.firstIndex + i), data.subarray(start, end), tags.subarray(i * TAG_BYTES, (i + 1) * TAG_BYTES)), start);
    }
    return { id: job.id, ok: true, data: out.buffer, tags: null };
  } catch (e) {
    return { id: job.id, ok: false, code: isAppError(e) ? e.code : 'INTERNAL', message: isAppError(e) ? e.message : 'AEAD worker failed.' };
  } finally {
    job.key.fill(0);
  }
}

parentPort?.on('message', (job: ChunkJob) => {
  const r = run(job);
  const transfer = r.ok ? [r.data, ...(r.tags === null ? [] : [r.tags])] : [];
  parentPort?.postMessage(r, transfer);
});
