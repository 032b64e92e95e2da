/**
 * The rotation wizard's "Send to broker" step: the kept bundle goes, exactly as signed, with the rotated folder's
 * headers to the app's broker for one published model (`security:pushBundle`, a task with progress and cancel). The
 * broker verifies the signature, unwraps the new master key and re-personalizes every active subscription.
 */
import { type FormEvent, useState } from 'react';
import type { BrokerTarget, BundlePushResult, RotationResult } from '../../../app/ipc/ops/security.ts';
import { api } from '../../lib/api.ts';
import { useTask } from '../../lib/task.ts';
import { useBrokerTarget, useRotationDone } from '../../queries/security.ts';
import { TaskProgress } from '../task-progress.tsx';
import { errorText } from './format.ts';

/** The published model this folder holds: the one published from the rotated folder itself, when there is one. */
function guessModel(target: BrokerTarget, folder: string): string {
  const trimmed = folder.replace(/[\\/]+$/, '');
  return target.models.find((m) => m.output.replace(/[\\/]+$/, '') === trimmed)?.modelId ?? '';
}

function brokerText(target: BrokerTarget): string {
  return target.broker.mode === 'embedded' ? 'the embedded broker' : target.broker.location;
}

export function BundlePush({ result }: { readonly result: RotationResult }) {
  const target = useBrokerTarget();
  const rotationDone = useRotationDone();
  const task = useTask();
  const [chosen, setChosen] = useState<string | undefined>(undefined);
  const [sent, setSent] = useState<BundlePushResult | undefined>(undefined);
  const [error, setError] = useState<{ code: string; message: string } | undefined>(undefined);

  if (target.isPending) {
    return (
      <p className="muted small" role="status">
        Looking up the broker…
      </p>
    );
  }
  if (target.isError) {
    return (
      <div className="alert alert-bad sec-gap" role="alert">
        {errorText(target.error)}
      </div>
    );
  }
  const t = target.data;
  const modelId = chosen ?? guessModel(t, result.folder);
  const producer = t.producer;
  const wrapped = producer !== null && result.bundle.recipients.includes(producer.brokerId);

  const send = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    setSent(undefined);
    const r = await task.run((taskId) => api.security.pushBundle({ taskId, bundleId: result.bundle.bundleId, folder: result.folder, modelId: modelId.trim() }));
    rotationDone();
    if (r.ok) setSent(r.value);
    else setError(r.error);
  };

  return (
    <div className="sec-push" data-testid="bundle-push">
      <h4 className="sec-push-title">Send to the broker</h4>
      {producer === null ? (
        <p className="muted small">
          This machine is not enrolled as a producer with {brokerText(t)}. Enroll it in the Publish view to send bundles from here, or save the bundle above and carry it to the broker.
        </p>
      ) : !wrapped ? (
        <div className="alert alert-warn" role="status">
          The new master key in this bundle is not wrapped for this app’s broker (<span className="mono">{producer.brokerId}</span>), so the broker could not unwrap it. Run the rotation again with “Wrap the new key for this app’s broker”, or carry the bundle to the broker it was made for.
        </div>
      ) : (
        <form className="sec-save" onSubmit={(e) => void send(e)}>
          <p className="muted small">
            The bundle goes exactly as signed, with the rewrapped headers of <span className="mono">{result.folder}</span>, to {brokerText(t)} as <strong>{producer.name}</strong>. The broker checks the signature against the model’s signing key, unwraps the new master key and serves
            subscribers the new headers.
          </p>
          <label htmlFor="sec-push-model">Published model</label>
          <div className="sec-save-row">
            <input id="sec-push-model" className="mono" list="sec-push-models" value={modelId} onChange={(e) => setChosen(e.target.value)} placeholder="the model id at the broker" spellCheck={false} disabled={task.running} />
            <datalist id="sec-push-models">
              {t.models.map((m) => (
                <option key={m.modelId} value={m.modelId}>
                  {m.name}
                </option>
              ))}
            </datalist>
            <button type="submit" className="button primary" disabled={task.running || modelId.trim() === ''}>
              {task.running ? 'Sending…' : sent === undefined ? 'Send to broker' : 'Send again'}
            </button>
          </div>
        </form>
      )}
      <TaskProgress task={task} label="Sending the bundle to the broker" unit="items" />
      {error === undefined ? null : (
        <div className={`alert ${error.code === 'CANCELLED' ? 'alert-warn' : 'alert-bad'} sec-gap`} role="alert" data-testid="bundle-push-error">
          {error.message}
        </div>
      )}
      {sent === undefined ? null : (
        <p className="sec-saved" role="status" data-testid="bundle-pushed">
          <span className="dot dot-ok" aria-hidden="true" />
          <span>
            The broker accepted bundle <span className="mono">{sent.bundleId}</span> for <span className="mono">{sent.modelId}</span>: {sent.files.length} header(s) imported under the new key, {sent.resubscribed} subscription(s)
            re-personalized. Subscribers get the new headers at their next key release.
          </span>
        </p>
      )}
    </div>
  );
}
