/**
 * A pool of AEAD worker threads (one per core by default) for bulk tensor work: sealing batches for the packager,
 * and reading (and opening) tensors straight from an open file for the reader. One shared pool per process
 * (`sharedPool()`), started lazily; idle workers never keep the process alive.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AppError, BugError, isErrorCode } from '../../errors.ts';
import type { AeadAlg } from '../../crypto/aead.ts';

interface JobBase {
  readonly id: number;
  readonly alg: AeadAlg;
  readonly key: Uint8Array;
  readonly baseIv: Uint8Array;
  readonly firstIndex: number;
  readonly chunkSize: number;
}

/** Seal a batch of consecutive chunks held in `data` (transferred back as ciphertext). */
export interface SealJob extends JobBase {
  readonly op: 'seal';
  readonly data: ArrayBuffer;
}

/** Open a batch of chunks held in `data` (transferred), returning plaintext. */
export interface OpenJob extends JobBase {
  readonly op: 'open';
  readonly data: ArrayBuffer;
  readonly tags: ArrayBuffer;
}

/**
 * Read `length` bytes at `position` of the open descriptor `fd` (shared by all threads of the process; the caller
 * keeps it open until the job settles) and open them; the plaintext comes back as a transferred buffer.
 * (Not a SharedArrayBuffer: V8 backs those with memory that is several times slower to fault in.)
 */
export interface OpenFileJob extends JobBase {
  readonly op: 'open-file';
  readonly fd: number;
  readonly position: number;
  readonly length: number;
  readonly tags: ArrayBuffer;
}

/** Read `length` plaintext bytes at `position` of `fd`, with their SHA-256 when `digest`. */
export interface ReadFileJob {
  readonly id: number;
  readonly op: 'read-file';
  readonly fd: number;
  readonly position: number;
  readonly length: number;
  readonly digest: boolean;
}

export type ChunkJob = SealJob | OpenJob | OpenFileJob | ReadFileJob;
type NewJob = Omit<SealJob, 'id'> | Omit<OpenJob, 'id'> | Omit<OpenFileJob, 'id'> | Omit<ReadFileJob, 'id'>;

export type ChunkResult =
  | { readonly id: number; readonly ok: true; readonly data: ArrayBuffer | null; readonly tags: ArrayBuffer | null; readonly digest: ArrayBuffer | null }
  | { readonly id: number; readonly ok: false; readonly code: string; readonly message: string };

export interface JobOutput {
  readonly data: Uint8Array;
  readonly tags: Uint8Array | null;
  /** SHA-256 of the data (read-file jobs that asked for it). */
  readonly digest: Uint8Array | null;
}

/** The worker entry next to this module: `.ts` when run from source (tsx), `.js` when built. */
const SELF_IS_TS = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(SELF_IS_TS ? './aead-worker.ts' : './aead-worker.js', import.meta.url);

function startWorker(): Worker {
  if (!SELF_IS_TS) return new Worker(WORKER_URL);
  // From source the worker is TypeScript: register tsx inside it first (an execArgv `--import tsx` did not take
  // effect for the worker's entry module on Node 20 here).
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;
  return new Worker(code, { eval: true });
}

interface Slot {
  readonly worker: Worker;
  busy: boolean;
}

interface Waiter {
  resolve: (r: JobOutput) => void;
  reject: (e: unknown) => void;
}

export class AeadPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Waiter & { slot: Slot }>();
  private readonly queue: (Waiter & { job: NewJob })[] = [];
  private nextId = 1;
  private closed = false;
  readonly size: number;

  constructor(size: number = Math.max(1, availableParallelism())) {
    if (!Number.isSafeInteger(size) || size < 1) throw new BugError('AeadPool: bad size');
    this.size = size;
  }

  private spawn(): Slot {
    const worker = startWorker();
    const slot: Slot = { worker, busy: false };
    worker.on('message', (r: ChunkResult) => {
      const p = this.pending.get(r.id);
      if (p === undefined) return;
      this.pending.delete(r.id);
      slot.busy = false;
      worker.unref(); // idle workers never keep the process alive
      if (r.ok) p.resolve({ data: r.data === null ? new Uint8Array(0) : new Uint8Array(r.data), tags: r.tags === null ? null : new Uint8Array(r.tags), digest: r.digest === null ? null : new Uint8Array(r.digest) });
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
      const transfer: ArrayBuffer[] = [];
      if (q.job.op === 'seal' || q.job.op === 'open') transfer.push(q.job.data);
      if (q.job.op === 'open' || q.job.op === 'open-file') transfer.push(q.job.tags);
      slot.worker.postMessage({ ...q.job, id }, transfer);
    }
  }

  /** Runs one job; `data`/`tags` buffers are transferred, so the caller must not use them afterwards. */
  run(job: NewJob): Promise<JobOutput> {
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

let shared: AeadPool | undefined;

/** The process-wide pool (one worker per core, started on first use, never closed; idle workers are unref'd). */
export function sharedPool(): AeadPool {
  shared ??= new AeadPool();
  return shared;
}
