/**
 * "My models" — the subscriber view (issue 7 item 3): enrollment with the broker, licences, requesting access,
 * importing a model with a licence's personalized headers, the imported library and the verify report with the
 * licence. Mounting for a local runtime lives in the mounts panel, below the report.
 */
import { useState } from 'react';
import type { ImportedModel, SubscriberVerifyView } from '../../app/ipc/ops/subscriber.ts';
import { StatusDot } from '../components/icons.tsx';
import { TaskProgress } from '../components/task-progress.tsx';
import { DeviceCard, EnrollCard, KeyFileUnlock, RequestAccessCard } from '../components/subscriber/identity-cards.tsx';
import { ImportPanel } from '../components/subscriber/import-panel.tsx';
import { LibraryPanel } from '../components/subscriber/library-panel.tsx';
import { LicenceVerifyReport } from '../components/subscriber/licence-verify-report.tsx';
import { LicencesPanel } from '../components/subscriber/licences-panel.tsx';
import '../components/subscriber/subscriber.css';
import { MountsPanel, type MountVerification } from '../components/mounts-panel.tsx';
import { useTask } from '../lib/task.ts';
import { subscriberTasks, useImportedModels, useLicences, useRefreshModels, useSubscriberIdentity } from '../queries/subscriber.ts';

export function SubscriberScreen() {
  const identity = useSubscriberIdentity();
  const enrolled = identity.data?.enrolled ?? null;
  const locked = identity.data?.keyStore.locked === true;
  const licences = useLicences(enrolled !== null && !locked);
  const [subscriptionId, setSubscriptionId] = useState<string | null>(null);
  const [selected, setSelected] = useState<ImportedModel | null>(null);
  const [report, setReport] = useState<SubscriberVerifyView | null>(null);
  const [verifyError, setVerifyError] = useState<string | null>(null);
  const verify = useTask();
  const refresh = useRefreshModels();
  const models = useImportedModels();

  const runVerify = async (m: ImportedModel): Promise<void> => {
    setSelected(m);
    setReport(null);
    setVerifyError(null);
    const r = await verify.run((taskId) => subscriberTasks.verify({ taskId, localId: m.localId }));
    refresh();
    if (r.ok) setReport(r.value);
    else setVerifyError(r.error.message);
  };

  // The same rule as the library's "Verified": a passing report and, for a licensed copy, the key released to this device.
  const mountVerification: MountVerification =
    selected === null ? 'not-run'
    : verify.running ? 'running'
    : report !== null && report.localId === selected.localId ? (report.report.ok && (report.licence === null || report.licence.keyRelease === 'granted') ? 'passed' : 'failed')
    : verifyError !== null ? 'failed'
    : 'not-run';

  const broker = identity.data?.broker;
  return (
    <div className="page sub-page">
      <header className="page-header">
        <div>
          <h1>My models</h1>
          <p className="lede">Licences from your key broker, the models you imported, and proof that each one is exactly what its publisher signed.</p>
        </div>
        {broker === undefined ? null : (
          <span className="sub-broker" title={broker.location}>
            <StatusDot tone={enrolled === null ? 'idle' : 'ok'} />
            {broker.mode === 'embedded' ? 'Built-in broker' : new URL(broker.location).host}
          </span>
        )}
      </header>

      {identity.isError ? (
        <p className="alert alert-bad" role="alert">
          {identity.error.message}
        </p>
      ) : identity.data === undefined ? (
        <p className="muted" role="status">
          Loading…
        </p>
      ) : null}
      {locked ? <KeyFileUnlock /> : null}
      {identity.data === undefined ? null : enrolled === null ? (
        <EnrollCard identity={identity.data} />
      ) : (
        <>
          <div className="sub-top">
            <DeviceCard enrolled={enrolled} broker={identity.data.broker} />
            <RequestAccessCard licences={licences.data?.licences ?? []} />
          </div>
          <LicencesPanel
            locked={locked}
            onImport={(l) => {
              setSubscriptionId(l.subscriptionId);
              document.getElementById('sub-import')?.scrollIntoView({ behavior: 'smooth', block: 'start' });
            }}
          />
        </>
      )}

      {identity.data === undefined ? null : (
        <>
          <div id="sub-import">
            <ImportPanel
              licences={licences.data?.licences ?? []}
              subscriptionId={subscriptionId}
              onSubscriptionChange={setSubscriptionId}
              onImported={(m) => {
                setSubscriptionId(null);
                void runVerify(m);
              }}
            />
          </div>
          <LibraryPanel selected={selected?.localId ?? null} verifying={verify.running ? (selected?.localId ?? null) : null} onVerify={(m) => void runVerify(m)} />
          <TaskProgress task={verify} label={`Verifying ${selected?.name ?? ''}`} unit="items" />
          {verifyError === null ? null : (
            <p className="alert alert-bad" role="alert">
              {verifyError}
            </p>
          )}
          {report === null || selected === null ? null : <LicenceVerifyReport view={report} name={selected.name} />}
          {/* Mounting is offered for the selected copy once its verify report above passed in this session. */}
          <MountsPanel
            model={selected === null ? null : { name: selected.name, path: selected.path, modelId: selected.modelId, verification: mountVerification }}
            onVerify={selected === null ? undefined : () => void runVerify(selected)}
            nameOf={(path) => models.data?.find((m) => m.path === path)?.name}
          />
        </>
      )}
    </div>
  );
}
