/**
 * The producer view (issue 7 item 1): model → encryption → access policy → package (progress, cancel, verify report)
 * → publish (progress) → the published models with subscribers and audit. One step is open at a time; finished steps
 * stay reachable from the step list.
 */
import { useState } from 'react';
import type { PackageOutcome, PublishOutcome, ScanSummary } from '../../app/ipc/ops/producer.ts';
import { discardStaged } from '../queries/producer.ts';
import { EncryptStep, type EncryptSettings, selectionProblem } from '../components/producer/encrypt-step.tsx';
import { ModelStep } from '../components/producer/model-step.tsx';
import { PackageStep } from '../components/producer/package-step.tsx';
import { DEFAULT_ACCESS_POLICY, PolicyStep } from '../components/producer/policy-step.tsx';
import { PublishStep } from '../components/producer/publish-step.tsx';
import { PublishedModels } from '../components/producer/published-models.tsx';
import '../components/producer/producer.css';

const STEPS = [
  { key: 'model', title: 'Model', hint: 'Drop a folder or files' },
  { key: 'encrypt', title: 'Encryption', hint: 'What to encrypt, and how' },
  { key: 'policy', title: 'Access policy', hint: 'Who may load it' },
  { key: 'package', title: 'Package', hint: 'Encrypt, sign, verify' },
  { key: 'publish', title: 'Publish', hint: 'To the key broker' },
] as const;
type StepKey = (typeof STEPS)[number]['key'];

export function ProducerScreen() {
  const [step, setStep] = useState<StepKey>('model');
  const [scan, setScan] = useState<ScanSummary | undefined>(undefined);
  const [settings, setSettings] = useState<EncryptSettings>({ choice: { mode: 'all' }, alg: 'aes256gcm', version: 2 });
  const [policy, setPolicy] = useState(DEFAULT_ACCESS_POLICY);
  const [policyRevision, setPolicyRevision] = useState(0);
  const [packaged, setPackaged] = useState<PackageOutcome | undefined>(undefined);
  const [published, setPublished] = useState<PublishOutcome | undefined>(undefined);

  const selection = scan === undefined ? 'Choose a model first.' : scan.alreadyEncrypted ? 'This model is already encrypted.' : selectionProblem(scan, settings.choice);
  const reachable: Readonly<Record<StepKey, boolean>> = {
    model: true,
    encrypt: scan !== undefined && !scan.alreadyEncrypted,
    policy: scan !== undefined && !scan.alreadyEncrypted,
    package: scan !== undefined && !scan.alreadyEncrypted,
    publish: packaged !== undefined,
  };
  const done: Readonly<Record<StepKey, boolean>> = {
    model: scan !== undefined,
    encrypt: scan !== undefined && selection === undefined && step !== 'encrypt' && step !== 'model',
    policy: packaged !== undefined,
    package: packaged !== undefined,
    publish: published !== undefined,
  };
  const index = STEPS.findIndex((s) => s.key === step);
  const next = STEPS[index + 1];
  const nextBlocked = next === undefined || !reachable[next.key] || (step === 'encrypt' && selection !== undefined);

  const reset = (): void => {
    if (scan?.source.kind === 'staged' && packaged === undefined) discardStaged(scan.source.stagingId);
    setScan(undefined);
    setPackaged(undefined);
    setPublished(undefined);
    setSettings((s) => ({ ...s, choice: { mode: 'all' } }));
    setStep('model');
  };

  return (
    <div className="page page-wide pv">
      <header className="page-header">
        <div>
          <h1>Publish a model</h1>
          <p className="lede">Encrypt a model&apos;s tensors, sign every header and side file, attach the access policy, and publish the keys to the broker. The weights never leave this machine unencrypted.</p>
        </div>
        {scan === undefined ? null : (
          <button type="button" className="button secondary" onClick={reset}>
            Start over
          </button>
        )}
      </header>

      <nav aria-label="Publishing steps">
        <ol className="pv-steps">
          {STEPS.map((s, i) => (
            <li key={s.key}>
              <button
                type="button"
                className={`pv-step${s.key === step ? ' pv-step-current' : ''}${done[s.key] ? ' pv-step-done' : ''}`}
                aria-current={s.key === step ? 'step' : undefined}
                disabled={!reachable[s.key]}
                onClick={() => setStep(s.key)}
              >
                <span className="pv-step-num" aria-hidden="true">
                  {done[s.key] && s.key !== step ? '✓' : i + 1}
                </span>
                <span className="pv-step-text">
                  <span className="pv-step-title">{s.title}</span>
                  <span className="pv-step-hint">{s.hint}</span>
                </span>
              </button>
            </li>
          ))}
        </ol>
      </nav>

      <section className="pv-card" aria-labelledby="pv-step-heading">
        <h2 id="pv-step-heading" className="pv-card-title">
          {index + 1}. {STEPS[index]?.title}
        </h2>
        {step === 'model' ? (
          <ModelStep
            scan={scan}
            onScanned={(s) => {
              setScan(s);
              setPackaged(undefined);
              setPublished(undefined);
            }}
            onClear={reset}
          />
        ) : null}
        {step === 'encrypt' && scan !== undefined ? <EncryptStep scan={scan} settings={settings} onChange={setSettings} /> : null}
        {step === 'policy' ? (
          <PolicyStep
            source={policy}
            revision={policyRevision}
            onChange={setPolicy}
            onLoadSample={(text) => {
              setPolicy(text);
              setPolicyRevision((r) => r + 1);
            }}
          />
        ) : null}
        {step === 'package' && scan !== undefined ? (
          <PackageStep
            scan={scan}
            settings={settings}
            policy={policy}
            blocked={selection}
            outcome={packaged}
            onPackaged={(o) => {
              setPackaged(o);
              setPublished(undefined);
            }}
          />
        ) : null}
        {step === 'publish' && packaged !== undefined ? <PublishStep packaged={packaged} published={published} onPublished={setPublished} /> : null}
        {next === undefined ? null : (
          <div className="pv-nav">
            {index > 0 ? (
              <button type="button" className="button secondary" onClick={() => setStep(STEPS[index - 1]?.key ?? 'model')}>
                Back
              </button>
            ) : (
              <span />
            )}
            <button type="button" className="button primary" disabled={nextBlocked} onClick={() => setStep(next.key)} data-testid="next-step">
              Next: {next.title}
            </button>
          </div>
        )}
      </section>

      <PublishedModels />
    </div>
  );
}
