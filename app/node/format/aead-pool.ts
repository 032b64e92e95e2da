/**
 * A small pool of AEAD worker threads (one per core by default) for bulk v2 chunk encryption and decryption.
 * Jobs are transferred (zero-copy) and the caller bounds how many are in flight.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AppError, BugError, isErrorCode } from '../../errors.ts';
import type { AeadAlg } from '../../crypto/aead.ts';

export interface ChunkJob {
  readonly id: number;
  readonly op: 'seal' | 'open';
  readonly alg: AeadAlg;
  readonly key: Uint8Array;
  readonly baseIv: Uint8Array;
  readonly firstIndex: number;
  readonly chunkSize: number;
  readonly data: ArrayBuffer;
  readonly tags: ArrayBuffer | null;
}

export type ChunkResult =
  | { readonly id: number; readonly ok: true; readonly data: ArrayBuffer; readonly tags: ArrayBuffer | null }
  | { readonly id: number; readonly ok: false; readonly code: string; readonly message: string };

const TSX_API = import.meta.resolve('tsx/esm/api');
const WORKER_URL = new URL('./aead-worker.ts', import.meta.url).href;

interface Slot {
  readonly worker: Worker;
  busy: boolean;
}

export class AeadPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, { resolve: (r: { data: Uint8Array; tags: Uint8Array | null }) => void; reject: (e: unknown) => void; slot: Slot }>();
  private readonly queue: { job: Omit<ChunkJob, 'id'>; resolve: (r: { data: Uint8Array; tags: Uint8Array | null }) => void; reject: (e: unknown) => void }[] = [];
  private nextId = 1;
  private closed = false;
  readonly size: number;

  constructor(size: number = Math.max(1, availableParallelism())) {
    if (!Number.isSafeInteger(size) || size < 1) throw new BugError('AeadPool: bad size');
    this.size = size;
  }

  private spawn(): Slot {
    // The worker is TypeScript: register tsx inside it first (an execArgv `--import tsx` did not take effect for the
    // worker's entry module on Node 20 here).
    const code = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL)}); })`;
    const worker = new Worker(code, { eval: true });
    const slot: Slot = { worker, busy: false };
    worker.on('message', (r: ChunkResult) => {
      const p = this.pending.get(r.id);
      if (p === undefined) return;
      this.pending.delete(r.id);
      slot.busy = false;
      worker.unref(); // idle workers never keep the process alive
      if (r.ok) p.resolve({ data: new Uint8Array(r.data), tags: r.tags === null ? null : new Uint8Array(r.tags) });
      else p.reject(new AppError(isErrorCode(r.code) ? r.code : 'INTERNAL', r.message));
      this.pump();
    });
    worker.on('error', () => {
      for (const [id, p] of this.pending) {
        if (p.slot !== slot) continue;
        this.pending.delete(id);
        p.reject(new AppError('INTERNAL', 'An encryption worker crashed.'));
      }
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      this.pump();
    });
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.closed) {
      let slot = this.slots.find((s) => !s.busy);
      if (slot === undefined && this.slots.length < this.size) slot = this.spawn();
      if (slot === undefined) return;
      const q = this.queue.shift();
      if (q === undefined) return;
      const id = this.nextId++;
      slot.busy = true;
      slot.worker.ref();
      this.pending.set(id, { resolve: q.resolve, reject: q.reject, slot });
      const transfer = [q.job.data, ...(q.job.tags === null ? [] : [q.job.tags])];
      slot.worker.postMessage({ ...q.job, id }, transfer);
    }
  }

  /** Runs one job; `data` (and `tags`) are transferred, so the caller must not use them afterwards. */
  run(job: Omit<ChunkJob, 'id'>): Promise<{ data: Uint8Array; tags: Uint8Array | null }> {
    if (this.closed) return Promise.reject(new AppError('CANCELLED', 'The encryption pool is closed.'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.reject(new AppError('CANCELLED', 'The operation was cancelled.'));
    for (const p of this.pending.values()) p.reject(new AppError('CANCELLED', 'The operation was cancelled.'));
    this.pending.clear();
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }
}
