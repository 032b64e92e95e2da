/**
 * The verify report of a model (VerifyView from `model:verify`): signer with fingerprint and trust, signature,
 * encryption, tensors and digests, the signed manifest, the policy verdict with reasons, and every problem found.
 * Used by the producer view (its freshly packaged model) and the subscriber view (an imported model), which may add
 * rows of its own (e.g. the licence) as children.
 */
import { type ReactNode, useId } from 'react';
import type { SignerTrust, VerifyView } from '../../app/ipc/ops/producer.ts';
import { StatusDot } from './icons.tsx';
import './producer/verify-report.css';

/** `mvfp1:3f2a 9c1b …`: a fingerprint in groups of four, as everywhere else in Model Vault. */
export function formatFingerprint(fp: string): string {
  const prefix = /^[a-z0-9]+:/.exec(fp)?.[0] ?? '';
  return prefix + (fp.slice(prefix.length).match(/.{1,4}/g) ?? []).join(' ');
}

const TRUST_TEXT: Readonly<Record<SignerTrust, { label: string; tone: 'ok' | 'warn' | 'bad' }>> = {
  own: { label: 'Your signing key', tone: 'ok' },
  trusted: { label: 'Trusted signer', tone: 'ok' },
  'known-untrusted': { label: 'Known, not trusted here', tone: 'bad' },
  unknown: { label: 'Unknown signer', tone: 'bad' },
};

type Tone = 'ok' | 'warn' | 'bad' | 'idle';

function Check({ tone, title, children }: { readonly tone: Tone; readonly title: string; readonly children: ReactNode }) {
  return (
    <li className={`vr-check vr-${tone}`}>
      <StatusDot tone={tone} />
      <div className="vr-check-body">
        <span className="vr-check-title">{title}</span>
        <div className="vr-check-detail">{children}</div>
      </div>
    </li>
  );
}

export interface VerifyReportProps {
  readonly report: VerifyView;
  /** Heading level text; default "Verification". */
  readonly title?: string;
  /** Extra checks (e.g. the subscriber's licence), rendered as more rows: use <VerifyCheck>. */
  readonly children?: ReactNode;
}

export { Check as VerifyCheck };

export function VerifyReport({ report, title = 'Verification', children }: VerifyReportProps) {
  const headingId = useId();
  const tensors = report.files.reduce((a, f) => a + f.tensors, 0);
  const encrypted = report.files.reduce((a, f) => a + f.encryptedTensors, 0);
  const unauthenticated = report.files.reduce((a, f) => a + f.unauthenticatedTensors, 0);
  const problemCodes = new Set(report.problems.map((p) => p.code));
  const signer = report.signer;
  const trust = signer === null ? undefined : TRUST_TEXT[signer.trust];
  const policyTone: Tone = report.policy.verdict === 'allow' ? 'ok' : report.policy.verdict === 'none' || report.policy.verdict === 'unsupported' ? 'warn' : 'bad';
  return (
    <section className="vr" aria-labelledby={headingId} data-testid="verify-report">
      <header className="vr-head">
        <div>
          <h2 id={headingId}>{title}</h2>
          <p className="path mono small muted">{report.path}</p>
        </div>
        <span className={`badge ${report.ok ? 'badge-ok' : 'badge-bad'}`} data-testid="verify-verdict">
          <StatusDot tone={report.ok ? 'ok' : 'bad'} />
          {report.ok ? 'Verified' : 'Verification failed'}
        </span>
      </header>
      <ul className="vr-checks">
        <Check tone={signer === null ? 'bad' : (trust?.tone ?? 'bad')} title="Signer">
          {signer === null ? (
            <span>No trusted signer could be established. Add the publisher&apos;s key to your trusted signers (Keys &amp; audit).</span>
          ) : (
            <>
              <span className="vr-strong">{trust?.label}</span>
              {signer.scope === null ? null : <span className="muted"> for {signer.scope}</span>}
              <div className="mono small" data-testid="signer-fingerprint">
                {formatFingerprint(signer.fingerprint)}
              </div>
              {signer.kid === null ? null : <div className="muted small">kid {signer.kid}</div>}
            </>
          )}
        </Check>
        <Check tone={report.signature === 'valid' ? 'ok' : 'bad'} title="Signature">
          {report.signature === 'valid' ? 'Ed25519 signature over every header is valid.' : report.signature === 'missing' ? 'Not signed: this is plain safetensors.' : 'The signature does not verify with any trusted key.'}
        </Check>
        <Check tone={report.encryption === null ? 'bad' : 'ok'} title="Encryption">
          {report.encryption === null ? (
            'None.'
          ) : (
            <>
              CryptoTensors v{report.encryption.version}, {report.encryption.alg}
              {report.encryption.chunkSize === null ? '' : report.encryption.chunkSize >= 1024 * 1024 ? `, ${Math.round(report.encryption.chunkSize / (1024 * 1024))} MiB chunks` : `, ${Math.round(report.encryption.chunkSize / 1024)} KiB chunks`}
              {report.encryption.encKid === null ? null : <div className="muted small">master key {report.encryption.encKid}</div>}
            </>
          )}
        </Check>
        <Check tone={unauthenticated > 0 || problemCodes.has('DECRYPT_FAILED') ? 'bad' : report.decrypted ? 'ok' : 'warn'} title="Tensors">
          {encrypted} of {tensors} encrypted in {report.files.length} {report.files.length === 1 ? 'file' : 'files'}
          {unauthenticated > 0 ? `; ${unauthenticated} unauthenticated` : ''}.{' '}
          {report.decrypted ? 'Every encrypted tensor was decrypted and authenticated.' : 'Header check only: tensors were not decrypted (no master key here).'}
        </Check>
        <Check tone={problemCodes.has('DIGEST_MISMATCH') ? 'bad' : report.digests.total === 0 ? 'idle' : 'ok'} title="Digests">
          {report.digests.total === 0 ? 'No plaintext tensors: nothing to digest.' : `${report.digests.checked} of ${report.digests.total} signed SHA-256 digests of plaintext tensors match.`}
        </Check>
        <Check tone={report.manifest === null ? (report.kind === 'folder' ? 'bad' : 'idle') : report.manifest.ok ? 'ok' : 'bad'} title="Manifest">
          {report.manifest === null
            ? report.kind === 'folder'
              ? 'No signed folder manifest.'
              : 'Single file: no folder manifest.'
            : `${report.manifest.shards} shards and ${report.manifest.files} other files signed; ${report.manifest.checked} files checked${report.manifest.ok ? ', all unchanged' : ''}.`}
        </Check>
        <Check tone={policyTone} title="Policy">
          <span className="vr-strong">{report.policy.verdict === 'allow' ? 'File policy allows loading' : report.policy.verdict === 'deny' ? 'File policy denies loading' : report.policy.verdict === 'none' ? 'No file policy' : `File policy ${report.policy.verdict}`}</span>
          {report.policy.reasons.length === 0 ? null : (
            <ul className="reasons small">
              {report.policy.reasons.map((r) => (
                <li key={r}>{r}</li>
              ))}
            </ul>
          )}
          {report.policy.access === null ? (
            <div className="muted small">No access policy signed into the header.</div>
          ) : (
            <details className="vr-policy">
              <summary>Signed access policy (enforced by the broker at key release)</summary>
              <pre className="mono small" tabIndex={0} aria-label="Signed access policy, Rego">
                {report.policy.access}
              </pre>
            </details>
          )}
        </Check>
        {children}
      </ul>
      {report.problems.length === 0 ? null : (
        <div className="vr-problems" role="alert">
          <h3 className="subhead">Problems</h3>
          <ul className="problems" data-testid="verify-problems">
            {report.problems.map((p, i) => (
              <li key={i}>
                <span className="mono">{p.path}</span> {p.message} <span className="muted">({p.code})</span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
