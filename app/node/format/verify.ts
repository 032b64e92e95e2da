/**
 * `verifyModel`: full verification of a file or model folder: structure, signature by a trusted signer, policy,
 * every tensor decrypted and authenticated, plaintext digests, and for folders the signed manifest (every shard
 * present and carrying the same manifest, every other file unchanged, nothing added). Returns a report; never
 * prints plaintext.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError, isAppError, type ErrorCode } from '../../errors.ts';
import { parseManifest } from '../../format/manifest.ts';
import type { ModelHandle } from '../../format/reader.ts';
import { openModel, type NodeOpenOptions } from './open-model.ts';
import { folderLayout, sha256File } from './package.ts';
import { ioError } from './file-source.ts';

export interface VerifyProblem {
  readonly path: string;
  readonly code: ErrorCode;
  readonly message: string;
}

export interface FileVerdict {
  readonly path: string;
  readonly encrypted: boolean;
  readonly signer: { readonly kid?: string; readonly fingerprint: string } | null;
  readonly policy: 'allow' | 'ignored' | null;
  readonly tensors: number;
  readonly encryptedTensors: number;
  readonly unauthenticatedTensors: number;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly kind: 'file' | 'folder';
  readonly files: readonly FileVerdict[];
  readonly manifest: { readonly checked: number } | null;
  readonly problems: readonly VerifyProblem[];
}

export interface VerifyOptions extends NodeOpenOptions {
  /** Check structure, signature and policy only, without decrypting tensors (no master key needed). */
  readonly headerOnly?: boolean;
  /**
   * Stops the verification between tensors with CANCELLED (thrown, never reported as a problem): each file is then
   * read tensor by tensor in data order (with the reader's read-ahead) instead of in parallel lanes, every
   * plaintext wiped as soon as it authenticated, and the file closed, so nothing is left behind.
   */
  readonly signal?: AbortSignal;
  /** Called after each tensor of a file is read and checked (with `signal`, or always when given). */
  readonly onTensor?: (p: { readonly path: string; readonly done: number; readonly total: number }) => void;
}

function problemOf(path: string, e: unknown): VerifyProblem {
  if (isAppError(e) && e.code === 'CANCELLED') throw e; // a cancel ends the whole verification
  if (isAppError(e)) return { path, code: e.code, message: e.message };
  throw e;
}

function cancelled(): AppError {
  return new AppError('CANCELLED', 'Verification was cancelled.');
}

/** Every tensor in data order, checking `signal` before each: the cancellable form of `verifyAll`. */
async function verifyEach(handle: ModelHandle, label: string, options: VerifyOptions): Promise<void> {
  const names = handle.offsetKeys();
  for (const [i, name] of names.entries()) {
    if (options.signal?.aborted === true) throw cancelled();
    const t = await handle.getTensor(name);
    if (handle.info(name).encrypted) t.data.fill(0);
    options.onTensor?.({ path: label, done: i + 1, total: names.length });
  }
}

async function verifyFile(path: string, label: string, options: VerifyOptions): Promise<{ verdict: FileVerdict; manifestText: string | null }> {
  let handle: ModelHandle | undefined;
  try {
    handle = await openModel(path, { ...options, ...(options.headerOnly === true ? { withoutMasterKey: true } : {}) });
    if (options.headerOnly === true) {
      for (const name of handle.offsetKeys()) if (!handle.info(name).encrypted) await handle.getTensor(name); // digests
    } else if (options.signal !== undefined || options.onTensor !== undefined) {
      await verifyEach(handle, label, options);
    } else {
      await handle.verifyAll();
    }
    const names = handle.offsetKeys();
    const views = names.map((n) => (handle as ModelHandle).info(n));
    return {
      verdict: { path: label, encrypted: handle.encrypted, signer: handle.signer, policy: handle.policy, tensors: names.length, encryptedTensors: views.filter((v) => v.encrypted).length, unauthenticatedTensors: views.filter((v) => v.unauthenticated).length },
      manifestText: handle.parsed.manifestText,
    };
  } finally {
    await handle?.close();
  }
}

export async function verifyModel(path: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const st = await stat(path).catch((e: unknown) => {
    throw ioError('read the model', e);
  });
  const problems: VerifyProblem[] = [];
  const files: FileVerdict[] = [];
  if (options.signal?.aborted === true) throw cancelled();
  if (st.isFile()) {
    try {
      const { verdict } = await verifyFile(path, path, options);
      files.push(verdict);
      if (!verdict.encrypted && options.requireSigned !== false) problems.push({ path, code: 'SIGNATURE_MISSING', message: 'The file is plain safetensors: it is neither encrypted nor signed.' });
    } catch (e) {
      problems.push(problemOf(path, e));
    }
    return { ok: problems.length === 0, kind: 'file', files, manifest: null, problems };
  }
  const { shards, others } = await folderLayout(path);
  if (shards.length === 0) throw new AppError('VALIDATION', 'The folder has no .safetensors files.');
  const manifests = new Set<string>();
  for (const s of shards) {
    try {
      const { verdict, manifestText } = await verifyFile(join(path, s), s, options);
      files.push(verdict);
      if (!verdict.encrypted) problems.push({ path: s, code: 'SIGNATURE_MISSING', message: 'A shard is plain safetensors: it is neither encrypted nor signed.' });
      manifests.add(manifestText ?? '');
    } catch (e) {
      problems.push(problemOf(s, e));
    }
  }
  let checked = 0;
  if (manifests.size > 1 || manifests.has('')) {
    problems.push({ path, code: 'MANIFEST_MISMATCH', message: 'The shards do not all carry the same signed folder manifest.' });
  } else if (manifests.size === 1) {
    const m = parseManifest([...manifests][0] as string);
    const want = new Set(m.shards);
    for (const s of m.shards) if (!shards.includes(s)) problems.push({ path: s, code: 'MANIFEST_MISMATCH', message: 'A shard listed in the signed manifest is missing.' });
    for (const s of shards) if (!want.has(s)) problems.push({ path: s, code: 'MANIFEST_MISMATCH', message: 'A shard is not in the signed manifest.' });
    for (const f of others) {
      const h = m.files[f];
      if (h === undefined) {
        problems.push({ path: f, code: 'MANIFEST_MISMATCH', message: 'A file is not in the signed manifest (it was added after signing).' });
        continue;
      }
      checked++;
      if ((await sha256File(join(path, f))) !== h) problems.push({ path: f, code: 'MANIFEST_MISMATCH', message: 'A file was changed after signing.' });
    }
    for (const f of Object.keys(m.files)) if (!others.includes(f)) problems.push({ path: f, code: 'MANIFEST_MISMATCH', message: 'A file listed in the signed manifest is missing.' });
  }
  return { ok: problems.length === 0, kind: 'folder', files, manifest: { checked }, problems };
}
