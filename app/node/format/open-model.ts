/**
 * The Node reader: `openModel(path, options)` returns a lazy handle over the file (positional reads). Verification
 * order and rules are those of the core reader (signature against pinned keys before any key lookup, policy, alg
 * match, strict errors). Bulk decryption uses node:crypto, with chunked tensors spread over worker threads.
 * A header `jku` is dereferenced only when it is in `jkuAllowList` (W-3), and only as a small regular file.
 */
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { AppError } from '../../errors.ts';
import { TAG_BYTES } from '../../crypto/aead.ts';
import type { KeyDescriptor } from '../../format/crypto-metadata.ts';
import { parseJwks, type MasterKey } from '../../format/keys.ts';
import { openModelSource, type BulkDecrypt, type ModelHandle, type OpenOptions } from '../../format/reader.ts';
import { chunkCount } from '../../format/tensor-cipher.ts';
import { AeadPool } from './aead-pool.ts';
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

function poolDecrypt(pool: AeadPool): BulkDecrypt {
  return async (params, dek, entry, ciphertext) => {
    const { baseIv, tags } = entry;
    if (baseIv === undefined || tags === undefined) return nodeAead.open(params.alg, dek, new Uint8Array(12), ciphertext, new Uint8Array(16));
    const k = chunkCount(ciphertext.length, params.chunkSize);
    const per = Math.max(1, Math.ceil(k / pool.size));
    const out = new Uint8Array(ciphertext.length);
    const jobs: Promise<void>[] = [];
    for (let first = 0; first < k; first += per) {
      const start = first * params.chunkSize;
      const end = Math.min(ciphertext.length, (first + per) * params.chunkSize);
      const last = Math.min(k, first + per);
      jobs.push(
        pool.run({ op: 'open', alg: params.alg, key: dek.slice(), baseIv, firstIndex: first, chunkSize: params.chunkSize, data: ciphertext.slice(start, end).buffer, tags: tags.slice(first * TAG_BYTES, last * TAG_BYTES).buffer })
          .then((r) => out.set(r.data, start)),
      );
    }
    try {
      await Promise.all(jobs);
    } catch (e) {
      out.fill(0);
      throw e;
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
  const pool = options.parallel === false ? null : new AeadPool(options.workers);
  try {
    const handle = await openModelSource(source, { aead: nodeAead, ...options, ...(masterKeys === undefined ? {} : { masterKeys }), ...(pool === null ? {} : { bulkDecrypt: poolDecrypt(pool) }) });
    const close = (): Promise<void> => handle.close();
    return Object.freeze({ ...handle, close: async () => {
      await close();
      await pool?.close();
    } });
  } catch (e) {
    await source.close?.();
    await pool?.close();
    throw e;
  }
}
