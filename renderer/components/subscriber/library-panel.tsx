/** The imported models: origin, size, last verification; verify and remove. */
import { useId, useState } from 'react';
import type { ImportedModel } from '../../../app/ipc/ops/subscriber.ts';
import { formatBytes } from '../../lib/task.ts';
import { useImportedModels, useRemoveModel } from '../../queries/subscriber.ts';
import { StatusDot } from '../icons.tsx';
import { formatDateTime } from './format.ts';

export interface LibraryPanelProps {
  readonly selected: string | null;
  readonly verifying: string | null;
  readonly onVerify: (m: ImportedModel) => void;
}

export function LibraryPanel({ selected, verifying, onVerify }: LibraryPanelProps) {
  const models = useImportedModels();
  const remove = useRemoveModel();
  const [confirm, setConfirm] = useState<string | null>(null);
  const headingId = useId();
  const list = models.data ?? [];
  return (
    <section className="panel sub-panel" aria-labelledby={headingId} data-testid="library">
      <div className="panel-head">
        <h2 id={headingId}>Imported models</h2>
        <span className="small muted">{list.length === 0 ? '' : `${list.length} on this machine`}</span>
      </div>
      {models.isError ? (
        <p className="sub-error sub-pad" role="alert">
          {models.error.message}
        </p>
      ) : list.length === 0 ? (
        <div className="sub-empty">
          <p className="sub-empty-title">Nothing imported yet</p>
          <p className="muted small">Import a model above; it is verified here before you mount it.</p>
        </div>
      ) : (
        <ul className="sub-models">
          {list.map((m) => {
            const tone = m.lastVerified === null ? 'idle' : m.lastVerified.ok ? 'ok' : 'bad';
            return (
              <li key={m.localId} className={`sub-model-row${selected === m.localId ? ' sub-model-selected' : ''}`} data-testid="model-row">
                <div className="sub-model-main">
                  <div className="sub-model">{m.name}</div>
                  <div className="small muted">
                    {m.origin === 'broker' ? `Licensed copy of ${m.modelId ?? ''}` : 'Imported as shipped'} · {m.files.length} files · {formatBytes(m.bytes)} · {formatDateTime(m.importedAt)}
                  </div>
                </div>
                <span className={`sub-pill sub-pill-${tone}`}>
                  <StatusDot tone={tone} /> {m.lastVerified === null ? 'Not verified' : m.lastVerified.ok ? 'Verified' : 'Failed'}
                </span>
                <div className="sub-row-actions">
                  {confirm === m.localId ? (
                    <>
                      <button type="button" className="button danger small-button" onClick={() => remove.mutate(m.localId, { onSettled: () => setConfirm(null) })} disabled={remove.isPending}>
                        Delete copy
                      </button>
                      <button type="button" className="button secondary small-button" onClick={() => setConfirm(null)}>
                        Keep
                      </button>
                    </>
                  ) : (
                    <>
                      <button type="button" className="button primary small-button" onClick={() => onVerify(m)} disabled={verifying !== null} aria-label={`Verify ${m.name}`}>
                        {verifying === m.localId ? 'Verifying…' : 'Verify'}
                      </button>
                      <button type="button" className="button secondary small-button" onClick={() => setConfirm(m.localId)} disabled={verifying === m.localId} aria-label={`Remove ${m.name}`}>
                        Remove
                      </button>
                    </>
                  )}
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
