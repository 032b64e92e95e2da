import { useId, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import type { PackageOutcome, PublishOutcome } from '../../../app/ipc/ops/producer.ts';
import { useTask } from '../../lib/task.ts';
import { producerKeys, publishModel, useEnrollProducer, useProducerIdentity } from '../../queries/producer.ts';
import { TaskProgress } from '../task-progress.tsx';

function suggestId(name: string): string {
  const s = name.toLowerCase().replace(/[^a-z0-9._:@+-]+/g, '-').replace(/^[^a-z0-9]+|-+$/g, '').slice(0, 100);
  return s === '' ? 'model' : s;
}

/** Step 5: enroll as a producer if needed, then publish headers, the access policy and sealed keys to the broker. */
export function PublishStep({ packaged, published, onPublished }: { readonly packaged: PackageOutcome; readonly published: PublishOutcome | undefined; readonly onPublished: (p: PublishOutcome) => void }) {
  const identity = useProducerIdentity();
  const enroll = useEnrollProducer();
  const client = useQueryClient();
  const task = useTask();
  const [producerName, setProducerName] = useState('');
  const [invite, setInvite] = useState('');
  const [modelId, setModelId] = useState(() => suggestId(packaged.output.split('/').pop() ?? 'model'));
  const [mode, setMode] = useState<'open' | 'approval'>('open');
  const [duration, setDuration] = useState(365);
  const [devices, setDevices] = useState(2);
  const [grace, setGrace] = useState(7);
  const [error, setError] = useState<string | undefined>(undefined);
  const ids = { name: useId(), invite: useId(), id: useId(), mode: useId(), duration: useId(), devices: useId(), grace: useId() };

  async function start(): Promise<void> {
    setError(undefined);
    const r = await task.run((taskId) => publishModel(taskId, { packageId: packaged.packageId, modelId, mode, durationDays: duration, deviceLimit: devices, graceDays: grace }));
    if (r.ok) {
      onPublished(r.value);
      void client.invalidateQueries({ queryKey: producerKeys.models });
    } else setError(r.error.code === 'CANCELLED' ? 'Publishing was cancelled; nothing was sent.' : r.error.message);
  }

  if (published !== undefined) {
    return (
      <div className="pv-step-body">
        <div className="pv-done" role="status" data-testid="publish-done">
          <strong>Published as {published.modelId}</strong> to the {published.broker}: {published.files.length} signed headers, the access policy, and the keys sealed to the broker. Subscribers can now ask for a licence.
        </div>
      </div>
    );
  }
  if (identity.isPending) return <p className="muted pv-step-body">Checking the broker enrollment…</p>;
  if (identity.isError) {
    return (
      <div className="alert alert-bad pv-step-body" role="alert">
        {identity.error.message}
      </div>
    );
  }
  const broker = identity.data.broker;
  const enrolled = identity.data.enrolled;
  return (
    <div className="pv-step-body">
      <p className="muted">
        Broker: {broker.mode === 'embedded' ? 'the embedded broker on this machine (SQLite in the data folder, 127.0.0.1)' : broker.location}.
        {enrolled === null ? null : (
          <>
            {' '}
            Publishing as <strong>{enrolled.name}</strong> <span className="mono small">({enrolled.identityId})</span>.
          </>
        )}
      </p>
      {enrolled === null ? (
        <form
          className="pv-form"
          onSubmit={(e) => {
            e.preventDefault();
            enroll.mutate({ name: producerName.trim(), label: 'Model Vault desktop', ...(invite.trim() === '' ? {} : broker.mode === 'remote' ? { invite: invite.trim() } : {}) });
          }}
        >
          <div className="pv-field">
            <label htmlFor={ids.name}>Producer name (shown to subscribers)</label>
            <input id={ids.name} className="pv-input" value={producerName} onChange={(e) => setProducerName(e.target.value)} required maxLength={120} />
          </div>
          {broker.mode === 'remote' ? (
            <div className="pv-field">
              <label htmlFor={ids.invite}>Invite code from the broker operator</label>
              <input id={ids.invite} className="pv-input mono" value={invite} onChange={(e) => setInvite(e.target.value)} />
            </div>
          ) : null}
          <div className="pv-actions">
            <button type="submit" className="button primary" disabled={producerName.trim() === '' || enroll.isPending}>
              {enroll.isPending ? 'Enrolling…' : 'Enroll as producer'}
            </button>
          </div>
          {enroll.isError ? (
            <div className="alert alert-bad" role="alert">
              {enroll.error.message}
            </div>
          ) : null}
        </form>
      ) : (
        <form
          className="pv-form"
          onSubmit={(e) => {
            e.preventDefault();
            void start();
          }}
        >
          <div className="pv-form-grid">
            <div className="pv-field">
              <label htmlFor={ids.id}>Model id</label>
              <input id={ids.id} className="pv-input mono" value={modelId} onChange={(e) => setModelId(e.target.value)} pattern="[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,127}" required disabled={task.running} />
            </div>
            <div className="pv-field">
              <label htmlFor={ids.mode}>Subscriptions</label>
              <select id={ids.mode} value={mode} onChange={(e) => setMode(e.target.value === 'approval' ? 'approval' : 'open')} disabled={task.running}>
                <option value="open">Open: granted at once</option>
                <option value="approval">Approval: I approve each one</option>
              </select>
            </div>
            <div className="pv-field">
              <label htmlFor={ids.duration}>Licence length (days, 0 = no expiry)</label>
              <input id={ids.duration} className="pv-input" type="number" min={0} max={3650} value={duration} onChange={(e) => setDuration(Number(e.target.value))} disabled={task.running} />
            </div>
            <div className="pv-field">
              <label htmlFor={ids.devices}>Devices per licence</label>
              <input id={ids.devices} className="pv-input" type="number" min={1} max={1000} value={devices} onChange={(e) => setDevices(Number(e.target.value))} disabled={task.running} />
            </div>
            <div className="pv-field">
              <label htmlFor={ids.grace}>Offline grace (days)</label>
              <input id={ids.grace} className="pv-input" type="number" min={0} max={365} value={grace} onChange={(e) => setGrace(Number(e.target.value))} disabled={task.running} />
            </div>
          </div>
          {task.running ? (
            <TaskProgress task={task} label="Publishing" unit="items" />
          ) : (
            <div className="pv-actions">
              <button type="submit" className="button primary" data-testid="publish-button">
                Publish to the broker
              </button>
              <span className="muted small">Only signed headers go to the broker — never the weights.</span>
            </div>
          )}
          {error === undefined ? null : (
            <div className="alert alert-bad" role="alert">
              {error}
            </div>
          )}
        </form>
      )}
    </div>
  );
}
