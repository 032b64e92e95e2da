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
import type { KeyDescriptor } from '../../format/crypto-metadata.ts';
import { parseJwks, type MasterKey } from '../../format/keys.ts';
import { openModelSource, type BulkDecrypt, type ModelHandle, type OpenOptions } from '../../format/reader.ts';
import { chunkCount } from '../../format/tensor-cipher.ts';
import { AeadPool, sharedPool, type JobOutput } from './aead-pool.ts';
import { openFileSource } from './file-source.ts';
import { nodeAead } from './node-aead.ts';

export const MAX_JWK_FILE_BYTES = 65536;

export interface NodeOpenOptions extends OpenOptions {
  /** Header `jku` values (exact strings, `file://` only) that may be read to find the master key. */
  readonly jkuAllowList?: readonly string[];
  /** Decrypt large chunked tensors on worker threads (default true). */
  readonly parallel?: boolean;
  readonly workers?: number;
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

/** Splits a chunked tensor over the pool: each worker reads its part of the file and decrypts it. */
function poolDecrypt(pool: AeadPool, path: string): BulkDecrypt {
  return async (params, dek, entry, offset, byteLength) => {
    const { baseIv, tags } = entry;
    if (baseIv === undefined || tags === undefined) throw decryptFailed();
    const k = chunkCount(byteLength, params.chunkSize);
    // One job per worker (whole chunks), so each tensor is spread over every core.
    const perJob = Math.max(1, Math.ceil(k / pool.size));
    const jobs: Promise<JobOutput>[] = [];
    for (let first = 0; first < k; first += perJob) {
      const start = first * params.chunkSize;
      const end = Math.min(byteLength, (first + perJob) * params.chunkSize);
      const last = Math.min(k, first + perJob);
      jobs.push(pool.run({ op: 'open-file', alg: params.alg, key: dek.slice(), baseIv, firstIndex: first, chunkSize: params.chunkSize, path, position: offset + start, length: end - start, tags: tags.slice(first * TAG_BYTES, last * TAG_BYTES).buffer }));
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
      out.set(p, o); // (the parts hold the same plaintext the caller receives: not worth wiping)
      o += p.length;
    }
    return out;
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
    const handle = await openModelSource(source, { aead: nodeAead, ...options, ...(masterKeys === undefined ? {} : { masterKeys }), ...(pool === null ? {} : { bulkDecrypt: poolDecrypt(pool, path) }) });
    const close = (): Promise<void> => handle.close();
    return Object.freeze({ ...handle, close: async () => {
      await close();
      if (ownPool) await pool.close();
    } });
  } catch (e) {
    await source.close?.();
    if (ownPool) await pool.close();
    throw e;
  }
}
