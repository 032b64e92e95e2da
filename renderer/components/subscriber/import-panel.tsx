/**
 * Import a model: drop the folder the publisher sent (or choose it), pick the licence whose personalized headers
 * to apply (or none: import as is), then the import task with progress and cancel.
 */
import { type DragEvent, useId, useRef, useState } from 'react';
import type { ImportedModel, LicenceRow } from '../../../app/ipc/ops/subscriber.ts';
import type { ProgressEvent } from '../../../app/ipc/contract.ts';
import { formatBytes, useTask, type TaskState } from '../../lib/task.ts';
import { subscriberStaging, subscriberTasks, useRefreshModels } from '../../queries/subscriber.ts';
import { TaskProgress } from '../task-progress.tsx';
import { type Picked, pickedFromDrop, pickedFromInput, sourceOf } from './upload.ts';

export interface ImportPanelProps {
  readonly licences: readonly LicenceRow[];
  /** The licence chosen with "Import…" in the licences table. */
  readonly subscriptionId: string | null;
  readonly onSubscriptionChange: (id: string | null) => void;
  readonly onImported: (m: ImportedModel) => void;
}

/** The upload of dropped files (web host) shown with the same progress component as a task. */
function useUpload() {
  const [progress, setProgress] = useState<ProgressEvent | undefined>(undefined);
  const [running, setRunning] = useState(false);
  const [cancelling, setCancelling] = useState(false);
  const abort = useRef({ aborted: false });
  const state: TaskState = {
    taskId: running ? 'upload' : undefined, running, progress, cancelling,
    run: () => Promise.reject(new Error('not used')),
    cancel: () => {
      abort.current.aborted = true;
      setCancelling(true);
    },
  };
  const run = async (p: Picked) => {
    const signal = { aborted: false };
    abort.current = signal;
    setRunning(true);
    setCancelling(false);
    setProgress(undefined);
    try {
      return await sourceOf(p, (done, total) => setProgress({ taskId: 'upload', channel: 'subscriber:stageWrite', phase: 'uploading', done, total, message: `Uploading ${p.name}` }), signal);
    } finally {
      setRunning(false);
    }
  };
  return { state, run };
}

export function ImportPanel({ licences, subscriptionId, onSubscriptionChange, onImported }: ImportPanelProps) {
  const [picked, setPicked] = useState<Picked | null>(null);
  const [over, setOver] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const task = useTask();
  const upload = useUpload();
  const refresh = useRefreshModels();
  const folderInput = useRef<HTMLInputElement>(null);
  const ids = { heading: useId(), licence: useId(), zone: useId() };
  const active = licences.filter((l) => l.status === 'active');
  const busy = task.running || upload.state.running;

  const onDrop = (e: DragEvent): void => {
    e.preventDefault();
    setOver(false);
    setError(null);
    pickedFromDrop(e.dataTransfer).then(
      (p) => (p.files.length === 0 ? setError('Nothing to import there: drop a model folder or .safetensors files.') : setPicked(p)),
      () => setError('The dropped items could not be read. Try choosing the folder instead.'),
    );
  };

  const choose = (): void => {
    setError(null);
    if (subscriberStaging.pathForFile === undefined) {
      folderInput.current?.click();
      return;
    }
    void subscriberStaging.openFolder().then((r) => {
      if (r.ok && r.value.paths.length > 0) {
        const path = r.value.paths[0] ?? '';
        setPicked({ name: path.split(/[\\/]/).pop() ?? path, files: [], paths: [...r.value.paths], bytes: 0 });
      }
    });
  };

  const start = async (): Promise<void> => {
    if (picked === null) return;
    setError(null);
    let source;
    try {
      source = await upload.run(picked);
    } catch (e) {
      setError(e instanceof Error && e.message === 'cancelled' ? 'Upload cancelled; nothing was kept.' : e instanceof Error ? e.message : 'The upload failed.');
      return;
    }
    const r = await task.run((taskId) => subscriberTasks.import({ taskId, source, ...(subscriptionId === null ? {} : { subscriptionId }) }));
    refresh();
    if (r.ok) {
      setPicked(null);
      onImported(r.value);
    } else setError(r.error.message);
  };

  const chosen = licences.find((l) => l.subscriptionId === subscriptionId);
  return (
    <section className="panel sub-panel" aria-labelledby={ids.heading} data-testid="import">
      <div className="panel-head">
        <h2 id={ids.heading}>Import a model</h2>
        <span className="small muted">Weights stay encrypted: only the headers are made yours.</span>
      </div>
      <div className="sub-import">
        <div
          id={ids.zone}
          className={`sub-drop${over ? ' sub-drop-over' : ''}${picked === null ? '' : ' sub-drop-picked'}`}
          onDragOver={(e) => {
            e.preventDefault();
            setOver(true);
          }}
          onDragLeave={() => setOver(false)}
          onDrop={onDrop}
          data-testid="drop-zone"
        >
          <svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true" className="sub-drop-icon">
            <path d="M12 15V4m0 0l-4 4m4-4l4 4M5 15v3a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2v-3" fill="none" stroke="currentColor" strokeWidth="1.7" strokeLinecap="round" strokeLinejoin="round" />
          </svg>
          {picked === null ? (
            <>
              <p className="sub-drop-title">Drop the model folder your publisher sent</p>
              <p className="small muted">or a single .safetensors file</p>
            </>
          ) : (
            <>
              <p className="sub-drop-title" data-testid="picked-name">
                {picked.name}
              </p>
              <p className="small muted">{picked.files.length === 0 ? 'Chosen folder' : `${picked.files.length} files · ${formatBytes(picked.bytes)}`}</p>
            </>
          )}
          <button type="button" className="button secondary small-button" onClick={choose} disabled={busy}>
            {picked === null ? 'Choose folder…' : 'Choose another…'}
          </button>
          <input
            ref={folderInput}
            type="file"
            className="visually-hidden"
            tabIndex={-1}
            aria-hidden="true"
            data-testid="folder-input"
            {...({ webkitdirectory: '', directory: '' } as Record<string, string>)}
            multiple
            onChange={(e) => {
              if (e.target.files !== null && e.target.files.length > 0) setPicked(pickedFromInput(e.target.files));
              e.target.value = '';
            }}
          />
        </div>
        <div className="sub-import-side">
          <label htmlFor={ids.licence} className="sub-label">
            Licence to apply
          </label>
          <select id={ids.licence} value={subscriptionId ?? ''} onChange={(e) => onSubscriptionChange(e.target.value === '' ? null : e.target.value)} disabled={busy}>
            <option value="">None — import the files as they are</option>
            {active.map((l) => (
              <option key={l.subscriptionId} value={l.subscriptionId}>
                {l.modelId}
              </option>
            ))}
          </select>
          <p className="small muted sub-import-hint">
            {chosen === undefined
              ? 'Without a licence the copy keeps the publisher’s headers; it can be inspected but not opened.'
              : `The broker’s personalized headers for ${chosen.modelId} (${chosen.files} ${chosen.files === 1 ? 'shard' : 'shards'}) replace the shipped ones, so only your licence opens this copy.`}
          </p>
          <button type="button" className="button primary" onClick={() => void start()} disabled={picked === null || busy}>
            {busy ? 'Importing…' : 'Import'}
          </button>
        </div>
      </div>
      <div className="sub-pad-x">
        <TaskProgress task={upload.state} label="Uploading" />
        <TaskProgress task={task} label="Importing" />
        {error === null ? null : (
          <p className="sub-error" role="alert">
            {error}
          </p>
        )}
      </div>
    </section>
  );
}
