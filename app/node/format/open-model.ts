/**
 * The Node reader: `openModel(path, options)` returns a lazy handle over the file (positional reads). Verification
 * order and rules are those of the core reader (signature against pinned keys before any key lookup, policy, alg
 * match, strict errors). Bulk decryption uses node:crypto, with chunked tensors spread over worker threads.
 * A header `jku` is dereferenced only when it is in `jkuAllowList` (W-3), and only as a small regular file.
 */
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { AppError } from '../../errors.ts';
import { TAG_BYTES, decryptFailed } from '../../crypto/aead.ts';
import { wipe } from '../../crypto/bytes.ts';
import type { KeyDescriptor } from '../../format/crypto-metadata.ts';
import { parseJwks, type MasterKey } from '../../format/keys.ts';
import { DEFAULT_BULK_MIN_BYTES, openModelSource, type BulkDecrypt, type BulkRead, type ModelHandle, type OpenOptions, type Tensor } from '../../format/reader.ts';
import { chunkCount } from '../../format/tensor-cipher.ts';
import { AeadPool, sharedPool, type JobOutput } from './aead-pool.ts';
import { openFileSource } from './file-source.ts';
import { nodeAead } from './node-aead.ts';

export const MAX_JWK_FILE_BYTES = 65536;

export interface NodeOpenOptions extends OpenOptions {
  /** Header `jku` values (exact strings, `file://` only) that may be read to find the master key. */
  readonly jkuAllowList?: readonly string[];
  /** Read and decrypt large tensors on worker threads (default true). */
  readonly parallel?: boolean;
  readonly workers?: number;
  /** With `parallel`: read the next tensor ahead while the caller reads tensors in data order (default true). */
  readonly readAhead?: boolean;
}

/** Reads master keys from an allow-listed `file://` jku; anything else is ignored. */
export async function masterKeysFromJku(descriptor: KeyDescriptor, allowList: readonly string[]): Promise<MasterKey[]> {
  const jku = descriptor.jku;
  if (jku === undefined || !allowList.includes(jku) || !jku.startsWith('file:///')) return [];
  const path = fileURLToPath(jku);
  const st = await stat(path).catch(() => null);
  if (st?.isFile() !== true || st.size > MAX_JWK_FILE_BYTES) throw new AppError('KEY_NOT_FOUND', 'The allow-listed key file is missing, not a regular file, or too large.');
  return parseJwks(await readFile(path, 'utf8')).flatMap((k) => (k.kind === 'master' ? [k.key] : []));
}

/** Tensors at least this large are split over every worker (then joined) instead of going whole to one worker. */
const SPLIT_BYTES = 128 * 1024 * 1024;

/** Pool jobs of one handle: the file descriptor they read must stay open until every job has settled. */
class InFlight {
  private readonly jobs = new Set<Promise<unknown>>();

  track<T>(p: Promise<T>): Promise<T> {
    this.jobs.add(p);
    const done = (): void => {
      this.jobs.delete(p);
    };
    p.then(done, done);
    return p;
  }

  async settle(): Promise<void> {
    while (this.jobs.size > 0) await Promise.allSettled([...this.jobs]);
  }
}

/**
 * Decrypts a whole tensor on the pool. A tensor goes whole to one worker, which reads its ciphertext from the shared
 * descriptor and returns the plaintext in one transferred buffer (no copy on this thread); the other workers serve
 * the read-ahead. Very large tensors are split over every worker and joined here.
 */
function poolDecrypt(pool: AeadPool, fd: number, inFlight: InFlight): BulkDecrypt {
  return async (params, dek, entry, offset, byteLength) => {
    // v1 is one message: chunk 0 of a "chunked" tensor whose chunk is the whole tensor (chunkNonce(iv, 0) = iv).
    const baseIv = params.chunked ? entry.baseIv : entry.iv;
    const tags = params.chunked ? entry.tags : entry.tag;
    const chunkSize = params.chunked ? params.chunkSize : byteLength;
    if (baseIv === undefined || tags === undefined) throw decryptFailed();
    const k = chunkCount(byteLength, chunkSize);
    if (tags.length !== k * TAG_BYTES) throw decryptFailed();
    const perJob = byteLength >= SPLIT_BYTES ? Math.max(1, Math.ceil(k / pool.size)) : k;
    const jobs: Promise<JobOutput>[] = [];
    // The key is not copied here: postMessage clones it into the worker, which wipes its copy after the job (a copy
    // made here would stay unwiped until GC); the handle wipes this one on close. A view is sliced, since a clone of
    // a view carries its whole buffer.
    const key = dek.byteOffset === 0 && dek.byteLength === dek.buffer.byteLength ? dek : dek.slice();
    for (let first = 0; first < k; first += perJob) {
      const start = first * chunkSize;
      const end = Math.min(byteLength, (first + perJob) * chunkSize);
      const last = Math.min(k, first + perJob);
      jobs.push(inFlight.track(pool.run({ op: 'open-file', alg: params.alg, key, baseIv, firstIndex: first, chunkSize, fd, position: offset + start, length: end - start, tags: tags.slice(first * TAG_BYTES, last * TAG_BYTES).buffer })));
    }
    const results = await Promise.allSettled(jobs);
    const parts: Uint8Array[] = [];
    let failure: unknown;
    for (const r of results) {
      if (r.status === 'fulfilled') parts.push(r.value.data);
      else failure ??= r.reason;
    }
    if (failure !== undefined) {
      for (const p of parts) p.fill(0);
      throw failure instanceof Error ? failure : decryptFailed();
    }
    if (parts.length === 1) return parts[0] as Uint8Array;
    const out = new Uint8Array(byteLength);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      p.fill(0);
      o += p.length;
    }
    return out;
  };
}

/** Reads a whole plaintext tensor on the pool (hashed there when it has a signed digest). */
function poolRead(pool: AeadPool, fd: number, inFlight: InFlight): BulkRead {
  return async (offset, byteLength, digest) => {
    const r = await inFlight.track(pool.run({ op: 'read-file', fd, position: offset, length: byteLength, digest }));
    return { data: r.data, sha256: r.digest };
  };
}

/**
 * Read-ahead: when tensors are read in data order (`offsetKeys()`), the next one is started on the pool while the
 * caller works on the current one, so every core is busy even though the caller asks for one tensor at a time.
 * At most one tensor is read ahead. A read-ahead result nobody asks for is wiped (if encrypted) when it is dropped
 * or when the handle closes; a read-ahead error surfaces only if the caller asks for that tensor (W-5 still holds:
 * every read the caller makes either returns authenticated plaintext or raises).
 */
function withReadAhead(handle: ModelHandle, pool: AeadPool, inFlight: InFlight, minBytes: number, readAhead: boolean): Pick<ModelHandle, 'getTensor' | 'verifyAll'> & { drain(): Promise<void> } {
  const order = handle.offsetKeys();
  const indexOf = new Map(order.map((n, i) => [n, i]));
  let ahead: { readonly name: string; readonly promise: Promise<Tensor> } | null = null;
  let lastIndex = -2;
  let closing = false;

  const drop = (a: { readonly name: string; readonly promise: Promise<Tensor> }): void => {
    const encrypted = handle.info(a.name).encrypted;
    void inFlight.track(a.promise.then((t) => {
      if (encrypted) wipe(t.data);
    }, () => undefined));
  };

  return {
    async getTensor(name: string): Promise<Tensor> {
      let result: Promise<Tensor>;
      if (ahead?.name === name) {
        result = ahead.promise;
        ahead = null;
      } else {
        if (ahead !== null) drop(ahead);
        ahead = null;
        result = handle.getTensor(name);
      }
      const i = indexOf.get(name);
      const next = i === undefined ? undefined : order[i + 1];
      if (readAhead && !closing && i !== undefined && i === lastIndex + 1 && next !== undefined && handle.info(next).byteLength >= minBytes) {
        const promise = handle.getTensor(next);
        promise.catch(() => undefined); // raised when (if) the caller asks for it
        ahead = { name: next, promise };
      }
      lastIndex = i ?? -2;
      return await result;
    },
    /** Every tensor, `pool.size` at a time; encrypted plaintext wiped as soon as it authenticated. */
    async verifyAll(): Promise<void> {
      let next = 0;
      let failed = false;
      const lane = async (): Promise<void> => {
        while (next < order.length && !failed) {
          const name = order[next++] as string;
          try {
            const t = await handle.getTensor(name);
            if (handle.info(name).encrypted) wipe(t.data);
          } catch (e) {
            failed = true; // the other lanes stop after their current tensor
            throw e;
          }
        }
      };
      const lanes = Array.from({ length: Math.max(1, pool.size) }, lane);
      const results = await Promise.allSettled(lanes);
      const failure = results.find((r) => r.status === 'rejected');
      if (failure !== undefined) throw failure.reason;
    },
    async drain(): Promise<void> {
      closing = true;
      if (ahead !== null) drop(ahead);
      ahead = null;
      await inFlight.settle();
    },
  };
}

export async function openModel(path: string, options: NodeOpenOptions = {}): Promise<ModelHandle> {
  if (typeof path !== 'string') throw new AppError('VALIDATION', 'Path must be a string.');
  const source = await openFileSource(path);
  const allow = options.jkuAllowList ?? [];
  const given = options.masterKeys;
  const masterKeys: OpenOptions['masterKeys'] = allow.length === 0 ? given : async (d) => {
    const fromOptions = typeof given === 'function' ? await given(d) : given?.find((k) => d.kid === undefined || k.kid === d.kid);
    if (fromOptions !== undefined) return fromOptions;
    const fromJku = await masterKeysFromJku(d, allow);
    return fromJku.find((k) => d.kid === undefined || k.kid === d.kid);
  };
  const pool = options.parallel === false ? null : options.workers === undefined ? sharedPool() : new AeadPool(options.workers);
  const ownPool = pool !== null && options.workers !== undefined;
  try {
    if (pool === null) return await openModelSource(source, { aead: nodeAead, ...options, ...(masterKeys === undefined ? {} : { masterKeys }) });
    const inFlight = new InFlight();
    const fd = source.handle.fd;
    const handle = await openModelSource(source, { aead: nodeAead, ...options, ...(masterKeys === undefined ? {} : { masterKeys }), bulkDecrypt: poolDecrypt(pool, fd, inFlight), bulkRead: poolRead(pool, fd, inFlight) });
    const fast = withReadAhead(handle, pool, inFlight, options.bulkMinBytes ?? DEFAULT_BULK_MIN_BYTES, options.readAhead !== false);
    return Object.freeze({
      ...handle,
      getTensor: fast.getTensor,
      verifyAll: fast.verifyAll,
      close: async () => {
        await fast.drain(); // no pool job may outlive the descriptor it reads
        await handle.close();
        if (ownPool) await pool.close();
      },
    });
  } catch (e) {
    await source.close?.();
    if (ownPool) await pool.close();
    throw e;
  }
}
