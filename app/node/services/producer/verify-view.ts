/**
 * The verify report the app shows (VerifyView, app/ipc/ops/producer.ts): `verifyModel` (signature by a trusted
 * signer, policy, every tensor decrypted and authenticated or header only, digests, manifest) combined with the
 * header facts from `inspectFile` (encryption parameters, policy texts, manifest size) and the signer's trust.
 * Used by the producer (its own packages) and the subscriber view (imported models, with its own keys).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_POLICY_TEXT } from '../../../format/crypto-metadata.ts';
import type { VerifyKey } from '../../../format/keys.ts';
import type { OpenOptions } from '../../../format/reader.ts';
import type { SignerTrust, VerifyView } from '../../../ipc/ops/producer.ts';
import { publicKeyOf, scopeToString, type TrustStore } from '../../../keys/trust.ts';
import { filePolicyEvaluator } from '../../../policy/file-policy.ts';
import { inspectFile, type InspectedFile } from '../../format/inspect.ts';
import { folderLayout } from '../../format/package.ts';
import { verifyModel, type VerifyOptions } from '../../format/verify.ts';

export interface VerifyViewOptions {
  /** Signer keys to check the signature against (own keys and the trusted entries of the trust store). */
  readonly trustedSigners: readonly VerifyKey[];
  /** Fingerprints of this machine's own signing keys (shown as "your key"). */
  readonly ownFingerprints: ReadonlySet<string>;
  readonly trustStore: TrustStore;
  /** Master keys to decrypt with; without any, only headers, signatures, digests and the manifest are checked. */
  readonly masterKeys?: OpenOptions['masterKeys'];
  readonly headerOnly?: boolean;
  /** Cancels between tensors with CANCELLED (the subscriber's verify task); see `verifyModel`. */
  readonly signal?: AbortSignal;
  readonly onTensor?: VerifyOptions['onTensor'];
}

/** The trusted entries of a trust store as verify keys. */
export function trustedKeysOf(store: TrustStore): VerifyKey[] {
  return store.entries.filter((e) => e.trusted).map((e) => ({ publicKey: publicKeyOf(e), ...(e.kid === undefined ? {} : { kid: e.kid }) }));
}

function trustOf(fingerprint: string, options: VerifyViewOptions): { trust: SignerTrust; scope: string | null } {
  if (options.ownFingerprints.has(fingerprint)) return { trust: 'own', scope: null };
  const entries = options.trustStore.entries.filter((e) => e.fingerprint === fingerprint);
  const trusted = entries.find((e) => e.trusted);
  if (trusted !== undefined) return { trust: 'trusted', scope: scopeToString(trusted.scope) };
  return { trust: entries.length > 0 ? 'known-untrusted' : 'unknown', scope: null };
}

function verdictOf(text: string | undefined): VerifyView['policy']['verdict'] {
  if (text === undefined) return 'none';
  if (text === 'allow' || text === 'deny' || text === 'unsupported') return text;
  return 'invalid';
}

export async function buildVerifyView(path: string, options: VerifyViewOptions): Promise<VerifyView> {
  const headerOnly = options.headerOnly === true || options.masterKeys === undefined;
  const report = await verifyModel(path, {
    trustedSigners: [...options.trustedSigners],
    ...(options.masterKeys === undefined ? {} : { masterKeys: options.masterKeys }),
    headerOnly,
    policyEvaluator: filePolicyEvaluator,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.onTensor === undefined ? {} : { onTensor: options.onTensor }),
  });
  const st = await stat(path);
  const inspected: InspectedFile[] = [];
  if (st.isDirectory()) {
    const layout = await folderLayout(path);
    for (const s of layout.shards) inspected.push(await inspectFile(join(path, s), s, options.trustedSigners));
  } else {
    inspected.push(await inspectFile(path, path, options.trustedSigners));
  }
  const first = inspected[0];
  const problemPaths = new Set(report.problems.map((p) => p.path));
  const verdictSigner = report.files.find((f) => f.signer !== null)?.signer ?? null;
  const signer = verdictSigner === null ? null : { kid: verdictSigner.kid ?? null, fingerprint: verdictSigner.fingerprint, ...trustOf(verdictSigner.fingerprint, options) };
  const signatureProblem = report.problems.some((p) => p.code === 'BAD_SIGNATURE' || p.code === 'SIGNER_UNTRUSTED');
  const signature: VerifyView['signature'] = inspected.every((f) => !f.encrypted) ? 'missing' : signatureProblem || signer === null ? 'invalid' : 'valid';
  const digestTotal = inspected.reduce((a, f) => a + Object.keys(f.digests).length, 0);
  const digestFailed = report.problems.filter((p) => p.code === 'DIGEST_MISMATCH').length;
  const manifestProblems = report.problems.filter((p) => p.code === 'MANIFEST_MISMATCH');
  const manifest = first?.manifest === null || first === undefined || report.manifest === null ? null : { shards: first.manifest.shards, files: first.manifest.files, checked: report.manifest.checked, ok: manifestProblems.length === 0 };
  const local = first?.policy?.local ?? null;
  const remote = first?.policy?.remote ?? null;
  const policyProblems = report.problems.filter((p) => p.code.startsWith('POLICY_'));
  return {
    ok: report.ok,
    path,
    kind: report.kind,
    decrypted: !headerOnly,
    signer,
    signature,
    encryption: first?.encryption === null || first === undefined ? null : { version: first.encryption.version, alg: first.encryption.alg, chunkSize: first.encryption.chunkSize, encKid: first.encryption.encKid },
    files: inspected.map((f) => {
      const verdict = report.files.find((v) => v.path === f.path);
      return {
        path: f.path,
        ok: verdict !== undefined && !problemPaths.has(f.path),
        encrypted: f.encrypted,
        tensors: f.tensors.length,
        encryptedTensors: f.tensors.filter((t) => t.encrypted).length,
        digestTensors: Object.keys(f.digests).length,
        unauthenticatedTensors: f.tensors.filter((t) => !t.authenticated).length,
      };
    }),
    digests: { checked: report.files.length === inspected.length ? digestTotal - digestFailed : 0, total: digestTotal },
    manifest,
    policy: {
      verdict: policyProblems.some((p) => p.code === 'POLICY_DENIED') ? 'deny' : verdictOf(first?.policy?.verdict),
      reasons: policyProblems.map((p) => p.message),
      local,
      access: remote === null || remote === DEFAULT_POLICY_TEXT ? null : remote,
    },
    problems: report.problems.map((p) => ({ path: p.path, code: p.code, message: p.message })),
  };
}

