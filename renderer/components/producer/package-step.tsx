import { useId, useState } from 'react';
import type { PackageOutcome, ScanSummary } from '../../../app/ipc/ops/producer.ts';
import { formatBytes, useTask } from '../../lib/task.ts';
import { chooseOutput, hasNativeFiles, packageModel, useProducerKeyInfo } from '../../queries/producer.ts';
import { TaskProgress } from '../task-progress.tsx';
import { VerifyReport, formatFingerprint } from '../verify-report.tsx';
import type { EncryptSettings } from './encrypt-step.tsx';

export interface PackageStepProps {
  readonly scan: ScanSummary;
  readonly settings: EncryptSettings;
  readonly policy: string;
  readonly blocked: string | undefined;
  readonly outcome: PackageOutcome | undefined;
  readonly onPackaged: (o: PackageOutcome) => void;
}

/** Step 4: the producer's keys (kid and fingerprint only), package with live progress and Cancel, then the verify report. */
export function PackageStep({ scan, settings, policy, blocked, outcome, onPackaged }: PackageStepProps) {
  const [name, setName] = useState(scan.name);
  const [output, setOutput] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const task = useTask();
  const keys = useProducerKeyInfo(settings.alg, true);
  const ids = { name: useId() };

  async function start(): Promise<void> {
    setError(undefined);
    const r = await task.run((taskId) => packageModel(taskId, { source: scan.source, name, encrypt: settings.choice, alg: settings.alg, version: settings.version, policy, ...(output === undefined ? {} : { output }) }));
    if (r.ok) onPackaged(r.value);
    else setError(r.error.code === 'CANCELLED' ? 'Packaging was cancelled. Nothing was written.' : r.error.message);
  }

  if (outcome !== undefined) {
    return (
      <div className="pv-step-body">
        <div className="pv-done" role="status">
          <strong>Packaged.</strong> {outcome.shards.length} {outcome.shards.length === 1 ? 'shard' : 'shards'} and {outcome.otherFiles.length} side files, {outcome.encryptedTensors} tensors encrypted, {formatBytes(outcome.bytes)} —{' '}
          <span className="mono small">{outcome.output}</span>
        </div>
        {outcome.warnings.map((w) => (
          <p key={w} className="muted small">
            Note: {w}
          </p>
        ))}
        <VerifyReport report={outcome.report} title="Verify report of the packaged model" />
      </div>
    );
  }

  return (
    <div className="pv-step-body">
      <div className="pv-package-grid">
        <div className="pv-field">
          <label htmlFor={ids.name}>Model name</label>
          <input id={ids.name} className="pv-input" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} disabled={task.running} />
          <p className="muted small">
            Written to {output ?? 'a new folder in the data directory'}
            {hasNativeFiles ? (
              <>
                {' '}
                <button
                  type="button"
                  className="pv-link"
                  onClick={() =>
                    void chooseOutput(name).then(
                      (p) => setOutput(p ?? undefined),
                      (e: unknown) => setError(e instanceof Error ? e.message : 'The save dialog failed.'),
                    )
                  }
                >
                  Change…
                </button>
              </>
            ) : null}
          </p>
        </div>
        <div className="pv-keys" aria-label="Producer keys" role="group">
          <span className="pv-keys-title">Signed and encrypted with your keys</span>
          {keys.isPending ? (
            <p className="muted small">Opening the key store…</p>
          ) : keys.isError ? (
            <p className="field-error pv-inline-error" role="alert">
              {keys.error.message}
            </p>
          ) : (
            <dl className="facts small">
              <dt>Signing key</dt>
              <dd>
                <span className="mono">{keys.data.signer.kid}</span>
                <br />
                <span className="mono muted" data-testid="producer-signer-fingerprint">
                  {formatFingerprint(keys.data.signer.fingerprint)}
                </span>
              </dd>
              <dt>Master key</dt>
              <dd>
                <span className="mono">{keys.data.master.kid}</span> · {keys.data.master.alg}
              </dd>
              <dt>Stored in</dt>
              <dd>{keys.data.store === 'keychain' ? 'OS keychain' : 'encrypted file keystore'}</dd>
            </dl>
          )}
        </div>
      </div>
      <dl className="pv-recap">
        <div>
          <dt>Encrypt</dt>
          <dd>{settings.choice.mode === 'all' ? 'every tensor' : settings.choice.mode === 'pattern' ? `names matching /${settings.choice.pattern}/` : `${settings.choice.names.length} picked tensors`}</dd>
        </div>
        <div>
          <dt>Algorithm</dt>
          <dd>{settings.alg}</dd>
        </div>
        <div>
          <dt>Format</dt>
          <dd>v{settings.version}</dd>
        </div>
        <div>
          <dt>Access policy</dt>
          <dd>{policy.trim() === '' ? 'none' : `${policy.split('\n').length} lines, signed into every header`}</dd>
        </div>
      </dl>
      {task.running ? (
        <TaskProgress task={task} label="Packaging" />
      ) : (
        <div className="pv-actions">
          <button type="button" className="button primary" onClick={() => void start()} disabled={blocked !== undefined || name.trim() === '' || !keys.isSuccess} data-testid="package-button">
            Package and sign
          </button>
          {blocked === undefined ? null : <span className="muted small">{blocked}</span>}
        </div>
      )}
      {error === undefined ? null : (
        <div className="alert alert-bad" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}
