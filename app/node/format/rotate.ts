/**
 * Rotation primitives, atomic (temp, fsync, rename) for files and folders:
 * - `rewrapModel`: new master and/or signing key; DEKs, nonces and the data section stay byte-identical.
 * - `reencryptModel`: fresh DEKs and nonces (revokes anyone holding old DEKs); may change alg, version, chunking;
 *   keeps the tensor selection and (unless a new one is given) the policy.
 *   It reads the verified file through a decrypting view straight into the packager: no plaintext touches the disk.
 */
import { copyFile, mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError, BugError } from '../../errors.ts';
import { wipe } from '../../crypto/bytes.ts';
import type { PolicyTexts } from '../../format/crypto-metadata.ts';
import type { MasterKey, SigningKey } from '../../format/keys.ts';
import { rewrapSource, type RewrapOptions } from '../../format/rewrap.ts';
import type { SafetensorsHeader } from '../../format/safetensors.ts';
import { commit, fsyncPath, removeQuietly, tempPathFor } from '../atomic.ts';
import { openFileSource } from './file-source.ts';
import { openModel, type NodeOpenOptions } from './open-model.ts';
import { folderLayout, packagePlainInput, type PackageOptions, type PlainInput } from './package.ts';

const COPY_BLOCK = 8 * 1024 * 1024;

export interface RewrapModelOptions extends Omit<RewrapOptions, 'old'> {
  readonly old: NodeOpenOptions;
  /** Write here instead of replacing the input. */
  readonly output?: string;
}

async function rewrapFileTo(input: string, dest: string, options: RewrapModelOptions): Promise<void> {
  const src = await openFileSource(input);
  try {
    const { header, oldDataStart, dataLength } = await rewrapSource({ size: src.size, read: (o, l) => src.read(o, l) }, options);
    const out = await open(dest, 'wx', 0o644);
    try {
      await out.write(header, 0, header.length, 0);
      for (let off = 0; off < dataLength; off += COPY_BLOCK) {
        const block = await src.read(oldDataStart + off, Math.min(COPY_BLOCK, dataLength - off));
        await out.write(block, 0, block.length, header.length + off);
      }
      await out.sync();
    } finally {
      await out.close();
    }
  } finally {
    await src.close?.();
  }
}

/** Rewraps a file or every shard of a folder (other files are copied unchanged; the manifest is kept). */
export async function rewrapModel(path: string, options: RewrapModelOptions): Promise<{ output: string; files: number }> {
  const target = options.output ?? path;
  const temp = tempPathFor(target);
  try {
    const st = await stat(path);
    if (st.isFile()) {
      await rewrapFileTo(path, temp, options);
      await commit(temp, target, true);
      return { output: target, files: 1 };
    }
    const { shards, others } = await folderLayout(path);
    await mkdir(temp);
    for (const s of shards) {
      await mkdir(join(temp, s, '..'), { recursive: true });
      await rewrapFileTo(join(path, s), join(temp, s), options);
    }
    for (const f of others) {
      await mkdir(join(temp, f, '..'), { recursive: true });
      await copyFile(join(path, f), join(temp, f));
      await fsyncPath(join(temp, f));
    }
    await commit(temp, target, true);
    return { output: target, files: shards.length + others.length };
  } catch (e) {
    await removeQuietly(temp);
    throw e;
  }
}

export interface ReencryptOptions {
  readonly old: NodeOpenOptions;
  readonly masterKey: MasterKey;
  readonly signingKey: SigningKey;
  readonly version?: 1 | 2;
  readonly chunkSize?: number;
  readonly policy?: Partial<PolicyTexts>;
  readonly output?: string;
  readonly onProgress?: PackageOptions['onProgress'];
}

/**
 * A decrypting view of a verified CryptoTensors file as the plain file it protects (same tensor offsets: the ciphers
 * are length-preserving). Chunked (v2) tensors are read a slice at a time; a monolithic (v1) tensor is decrypted and
 * authenticated whole once and served from memory until the next tensor, then wiped. Nothing is written to disk.
 */
async function openDecryptingInput(input: string, old: NodeOpenOptions): Promise<{ plain: PlainInput; encrypted: Set<string>; policy: PolicyTexts | undefined }> {
  const m = await openModel(input, old);
  const reserved = new Set(['__encryption__', '__policy__', '__signature__', '__ct_digests__', '__ct_manifest__']);
  const md = new Map([...m.metadata(), ...[...m.reservedMetadata()].filter(([k]) => !k.startsWith('__crypto') && !reserved.has(k))]);
  const source = m.parsed.header;
  const header: SafetensorsHeader = { ...source, metadata: md.size === 0 ? null : md };
  const tensors = [...source.tensors].sort((a, b) => a.begin - b.begin);
  const encrypted = new Set(tensors.filter((t) => m.info(t.name).encrypted).map((t) => t.name));
  const chunked = m.parsed.crypto?.keys.chunked === true;
  let cached: { name: string; data: Uint8Array } | undefined;
  const plain: PlainInput = {
    header,
    async read(position, length) {
      const offset = position - source.dataStart;
      const t = tensors.find((x) => x.begin <= offset && offset + length <= x.end);
      if (t === undefined) throw new BugError('reencrypt: a read crossed a tensor boundary');
      const start = offset - t.begin;
      if (!encrypted.has(t.name) || chunked) return m.getSlice(t.name, start, start + length);
      if (cached?.name !== t.name) {
        if (cached !== undefined) wipe(cached.data);
        cached = { name: t.name, data: (await m.getTensor(t.name)).data };
      }
      return cached.data.slice(start, start + length);
    },
    async close() {
      if (cached !== undefined) wipe(cached.data);
      cached = undefined;
      await m.close();
    },
  };
  return { plain, encrypted, policy: m.parsed.crypto?.policy };
}

/** Re-encrypts a single file with fresh DEKs (same tensor selection as before). */
export async function reencryptModel(path: string, options: ReencryptOptions): Promise<{ output: string }> {
  const st = await stat(path);
  if (!st.isFile()) throw new AppError('UNSUPPORTED', 'reencrypt works on one file at a time; run it per shard.');
  const target = options.output ?? path;
  const { plain, encrypted, policy } = await openDecryptingInput(path, options.old);
  {
    await packagePlainInput(plain, target, {
      overwrite: true, masterKey: options.masterKey, signingKey: options.signingKey, encrypt: [...encrypted],
      ...(options.version === undefined ? {} : { version: options.version }),
      ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
      ...(options.policy === undefined ? (policy === undefined ? {} : { policy }) : { policy: options.policy }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
    return { output: target };
  }
}
