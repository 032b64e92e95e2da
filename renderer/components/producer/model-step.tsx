import { type DragEvent, useId, useRef, useState } from 'react';
import type { ModelSource, ScanSummary } from '../../../app/ipc/ops/producer.ts';
import { formatBytes } from '../../lib/task.ts';
import { type DroppedFile, chooseWithDialog, droppedFiles, hasNativeFiles, pathsOf, pickedFiles, scanModel, stageFiles } from '../../queries/producer.ts';

export interface ModelStepProps {
  readonly scan: ScanSummary | undefined;
  readonly onScanned: (scan: ScanSummary) => void;
  readonly onClear: () => void;
}

type Busy = { readonly kind: 'upload'; readonly sent: number; readonly total: number } | { readonly kind: 'scan' } | undefined;

/** Step 1: drop a model folder or files (or pick them), upload them when the host has no paths, and scan. */
export function ModelStep({ scan, onScanned, onClear }: ModelStepProps) {
  const [over, setOver] = useState(false);
  const [busy, setBusy] = useState<Busy>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const abort = useRef<AbortController | null>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const filesInput = useRef<HTMLInputElement>(null);
  const ids = { folder: useId(), files: useId(), hint: useId() };

  async function fromSource(source: ModelSource): Promise<void> {
    setBusy({ kind: 'scan' });
    onScanned(await scanModel(source));
  }

  async function run(task: () => Promise<void>): Promise<void> {
    setError(undefined);
    try {
      await task();
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') setError('The upload was cancelled.');
      else setError(e instanceof Error ? e.message : 'The model could not be read.');
    } finally {
      setBusy(undefined);
      abort.current = null;
    }
  }

  async function upload(files: readonly DroppedFile[]): Promise<void> {
    if (files.length === 0) throw new Error('Nothing was dropped: drop a model folder or its .safetensors files.');
    const controller = new AbortController();
    abort.current = controller;
    setBusy({ kind: 'upload', sent: 0, total: files.reduce((a, f) => a + f.file.size, 0) });
    const source = await stageFiles(files, (sent, total) => setBusy({ kind: 'upload', sent, total }), controller.signal);
    await fromSource(source);
  }

  function onDrop(e: DragEvent<HTMLDivElement>): void {
    e.preventDefault();
    setOver(false);
    if (busy !== undefined) return;
    const data = e.dataTransfer;
    void run(async () => {
      const { files, raw } = await droppedFiles(data);
      const paths = pathsOf(raw);
      if (paths !== undefined) await fromSource(paths);
      else await upload(files);
    });
  }

  function choose(pick: 'folder' | 'files'): void {
    if (hasNativeFiles) {
      void run(async () => {
        const source = await chooseWithDialog(pick);
        if (source !== undefined) await fromSource(source);
      });
    } else {
      (pick === 'folder' ? folderInput : filesInput).current?.click();
    }
  }

  if (scan !== undefined) return <ScanSummaryView scan={scan} onClear={onClear} />;

  const pct = busy?.kind === 'upload' && busy.total > 0 ? Math.round((busy.sent / busy.total) * 100) : undefined;
  return (
    <div className="pv-step-body">
      <div
        className={`pv-drop${over ? ' pv-drop-over' : ''}`}
        data-testid="model-dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          e.dataTransfer.dropEffect = 'copy';
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
        aria-describedby={ids.hint}
      >
        <svg className="pv-drop-icon" viewBox="0 0 24 24" width="40" height="40" aria-hidden="true">
          <path d="M3 7.5A1.5 1.5 0 0 1 4.5 6h4l2 2h9A1.5 1.5 0 0 1 21 9.5v8A1.5 1.5 0 0 1 19.5 19h-15A1.5 1.5 0 0 1 3 17.5z" fill="currentColor" opacity="0.14" />
          <path d="M3 7.5A1.5 1.5 0 0 1 4.5 6h4l2 2h9A1.5 1.5 0 0 1 21 9.5v8A1.5 1.5 0 0 1 19.5 19h-15A1.5 1.5 0 0 1 3 17.5z" fill="none" stroke="currentColor" strokeWidth="1.5" />
          <path d="M12 16.5v-6m0 0l-2.5 2.5M12 10.5l2.5 2.5" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" />
        </svg>
        {busy === undefined ? (
          <>
            <p className="pv-drop-title">Drop a model folder or its .safetensors files here</p>
            <p id={ids.hint} className="muted small">
              Shards, config, tokenizer and index are read in place{hasNativeFiles ? '' : ' after a private upload to this machine’s data folder (removed after packaging)'}. Nothing leaves this machine.
            </p>
            <div className="pv-actions">
              <button type="button" className="button primary" onClick={() => choose('folder')}>
                Choose folder…
              </button>
              <button type="button" className="button secondary" onClick={() => choose('files')}>
                Choose files…
              </button>
            </div>
          </>
        ) : busy.kind === 'upload' ? (
          <div className="pv-upload" role="status">
            <p className="pv-drop-title">Copying the model into the private staging folder…</p>
            <progress max={1} value={busy.total === 0 ? 0 : busy.sent / busy.total} aria-label="Copying the dropped model" />
            <p className="muted small">
              {formatBytes(busy.sent)} of {formatBytes(busy.total)}
              {pct === undefined ? '' : ` · ${pct} %`}
            </p>
            <button type="button" className="button secondary" onClick={() => abort.current?.abort()}>
              Cancel
            </button>
          </div>
        ) : (
          <p className="pv-drop-title" role="status">
            Reading the headers…
          </p>
        )}
      </div>
      {/* The web host's folder and file pickers (Electron uses the native dialogs instead). */}
      <label htmlFor={ids.folder} className="visually-hidden">
        Model folder
      </label>
      <input
        ref={folderInput}
        id={ids.folder}
        type="file"
        className="visually-hidden"
        tabIndex={-1}
        data-testid="folder-input"
        {...{ webkitdirectory: '' }}
        multiple
        onChange={(e) => {
          const list = e.target.files;
          if (list !== null) void run(() => upload(pickedFiles(list)));
          e.target.value = '';
        }}
      />
      <label htmlFor={ids.files} className="visually-hidden">
        Model files
      </label>
      <input
        ref={filesInput}
        id={ids.files}
        type="file"
        className="visually-hidden"
        tabIndex={-1}
        multiple
        onChange={(e) => {
          const list = e.target.files;
          if (list !== null) void run(() => upload(pickedFiles(list)));
          e.target.value = '';
        }}
      />
      {error === undefined ? null : (
        <div className="alert alert-bad" role="alert">
          <strong>The model could not be read.</strong> {error}
        </div>
      )}
    </div>
  );
}

function ScanSummaryView({ scan, onClear }: { readonly scan: ScanSummary; readonly onClear: () => void }) {
  const dtypes = Object.entries(scan.dtypes).sort((a, b) => b[1] - a[1]);
  return (
    <div className="pv-step-body" data-testid="scan-summary">
      <div className="pv-summary-head">
        <div>
          <h3 className="pv-model-name">{scan.name}</h3>
          <p className="path mono small muted">{scan.location}</p>
        </div>
        <button type="button" className="button secondary" onClick={onClear}>
          Choose another model
        </button>
      </div>
      <dl className="pv-stats">
        <div>
          <dt>Files</dt>
          <dd data-testid="scan-files">{scan.files.length}</dd>
        </div>
        <div>
          <dt>Shards</dt>
          <dd data-testid="scan-shards">{scan.shards}</dd>
        </div>
        <div>
          <dt>Tensors</dt>
          <dd data-testid="scan-tensors">{scan.tensors.length}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>{formatBytes(scan.totalBytes)}</dd>
        </div>
        <div>
          <dt>Data types</dt>
          <dd className="pv-dtypes">
            {dtypes.map(([d, n]) => (
              <span key={d} className="pv-chip">
                {d} <span className="muted">×{n}</span>
              </span>
            ))}
          </dd>
        </div>
      </dl>
      {scan.alreadyEncrypted ? (
        <div className="alert alert-bad" role="alert">
          This model is already CryptoTensors: it cannot be packaged again. Rotate its keys in Keys &amp; audit instead.
        </div>
      ) : null}
      <table className="pv-table">
        <caption className="visually-hidden">Files of the model</caption>
        <thead>
          <tr>
            <th scope="col">File</th>
            <th scope="col">Kind</th>
            <th scope="col" className="num">
              Size
            </th>
          </tr>
        </thead>
        <tbody>
          {scan.files.map((f) => (
            <tr key={f.path}>
              <td className="mono">{f.path}</td>
              <td>{f.kind === 'shard' ? `shard · ${scan.tensors.filter((t) => t.shard === f.path).length} tensors` : 'signed side file'}</td>
              <td className="num">{formatBytes(f.bytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
