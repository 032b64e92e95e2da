/**
 * Inspecting a model without its master key: header, encryption parameters, signer (verified against the given
 * trusted keys, when any), the file policy and its verdict, digests and the folder manifest. Shared by the CLI's
 * `inspect` and the app's `model:inspect` / verify report. Never decrypts anything.
 */
import { AppError } from '../../errors.ts';
import { evaluateConstantPolicy } from '../../format/policy.ts';
import { filePolicyEvaluator } from '../../policy/file-policy.ts';
import type { VerifyKey } from '../../format/keys.ts';
import type { ModelHeader } from '../../format/reader.ts';
import type { TensorInfo } from '../../format/safetensors.ts';
import { parseManifest } from '../../format/manifest.ts';
import { openFileSource, readModelHeader } from './file-source.ts';
import { openModel } from './open-model.ts';

export interface InspectedFile {
  readonly path: string;
  readonly bytes: number;
  readonly encrypted: boolean;
  readonly strippedCrypto: boolean;
  readonly encryption: null | { version: string; alg: string; chunkSize: number | null; encKid: string | null; encJku: string | null; signKid: string | null };
  readonly signature: null | { verified: boolean; signer: { kid?: string; fingerprint: string } | null; error?: string };
  readonly policy: null | { local: string; remote: string; verdict: string };
  readonly metadata: Record<string, string>;
  readonly digests: Record<string, string>;
  readonly manifest: null | { shards: number; files: number };
  readonly tensors: { name: string; dtype: string; shape: string[]; bytes: number; encrypted: boolean; authenticated: boolean }[];
}

/** The policy verdict for display: constant rules natively, else the project's Rego engine in reference mode. */
export function policyVerdict(local: string): string {
  const constant = evaluateConstantPolicy(local);
  if (constant !== 'unsupported') return constant;
  try {
    const v = filePolicyEvaluator(local);
    return typeof v === 'string' ? v : 'unsupported';
  } catch (e) {
    return e instanceof AppError ? `invalid (${e.code})` : 'invalid';
  }
}

export async function readHeaderOf(path: string): Promise<{ parsed: ModelHeader; size: number }> {
  const src = await openFileSource(path);
  try {
    return { parsed: (await readModelHeader(src)).parsed, size: src.size };
  } finally {
    await src.close?.();
  }
}

export async function inspectFile(path: string, label: string, trust: readonly VerifyKey[]): Promise<InspectedFile> {
  const { parsed, size } = await readHeaderOf(path);
  const { header, crypto } = parsed;
  let signature: InspectedFile['signature'] = null;
  if (crypto !== null) {
    if (trust.length === 0) signature = { verified: false, signer: null, error: 'no trusted signer given (--trust)' };
    else {
      try {
        const m = await openModel(path, { trustedSigners: trust, withoutMasterKey: true, ignorePolicy: true, parallel: false });
        signature = { verified: true, signer: m.signer };
        await m.close();
      } catch (e) {
        signature = { verified: false, signer: null, error: e instanceof AppError ? `${e.code}: ${e.message}` : 'verification failed' };
      }
    }
  }
  const md = header.metadata ?? new Map<string, string>();
  let manifest: InspectedFile['manifest'] = null;
  if (parsed.manifestText !== null) {
    const m = parseManifest(parsed.manifestText);
    manifest = { shards: m.shards.length, files: Object.keys(m.files).length };
  }
  return {
    path: label,
    bytes: size,
    encrypted: crypto !== null,
    strippedCrypto: parsed.strippedCrypto,
    encryption: crypto === null ? null : { version: crypto.keys.version, alg: crypto.keys.enc.alg, chunkSize: crypto.keys.chunked ? crypto.keys.chunkSize : null, encKid: crypto.keys.enc.kid ?? null, encJku: crypto.keys.enc.jku ?? null, signKid: crypto.keys.sign.kid ?? null },
    signature,
    policy: crypto === null ? null : { local: crypto.policy.local, remote: crypto.policy.remote, verdict: policyVerdict(crypto.policy.local) },
    metadata: Object.fromEntries([...md].filter(([k]) => !k.startsWith('__'))),
    digests: Object.fromEntries(parsed.digests ?? []),
    manifest,
    tensors: header.tensors.map((t: TensorInfo) => {
      const encrypted = crypto?.entries.has(t.name) === true;
      return { name: t.name, dtype: t.dtype, shape: t.shape.map(String), bytes: t.end - t.begin, encrypted, authenticated: encrypted || parsed.digests?.has(t.name) === true };
    }),
  };
}
