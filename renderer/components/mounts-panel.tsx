/**
 * The mounts panel (issue 8), embedded by the subscriber view: mount a verified model for a local inference runtime
 * (FUSE folder, loopback HTTP, or key release), the active mounts with how a runtime connects to each, and unmount.
 * Nothing secret is shown: the HTTP token and released keys stay in 0600 files, and the commands read them with
 * `$(cat …)`.
 */
import { useState, type FormEvent } from 'react';
import type { MountModeName, MountSummary } from '../../app/ipc/ops/mount.ts';
import { useTask } from '../lib/task.ts';
import { useMounts, useStartMount, useStopMount } from '../queries/mount.ts';
import { TaskProgress } from './task-progress.tsx';
import './mounts-panel.css';

const MODE_LABEL: Readonly<Record<MountModeName, string>> = { fuse: 'Folder (FUSE)', http: 'Loopback HTTP', keys: 'Key release' };

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : 'The operation failed.';
}

function MountRow({ m }: { readonly m: MountSummary }) {
  const stop = useStopMount();
  const where = m.mountpoint ?? m.url ?? m.keysFile ?? '';
  return (
    <li className="mounts-row" data-testid={`mount-${m.id}`}>
      <div className="mounts-row-head">
        <span className="dot dot-ok" aria-hidden="true" />
        <strong>{MODE_LABEL[m.mode]}</strong>
        <span className="mono mounts-where">{where}</span>
        {m.owner === 'app' ? (
          <button type="button" className="button secondary" onClick={() => stop.mutate({ id: m.id })} disabled={stop.isPending} aria-label={`Unmount ${where}`}>
            {stop.isPending ? 'Unmounting…' : 'Unmount'}
          </button>
        ) : (
          <span className="muted small">started by the command line (pid {m.pid})</span>
        )}
      </div>
      <dl className="facts small">
        <dt>Model</dt>
        <dd className="mono">{m.model}</dd>
        <dt>Files</dt>
        <dd>{m.files.length}</dd>
        {m.licence === undefined ? null : (
          <>
            <dt>Licence</dt>
            <dd>until {new Date(m.licence.notAfter).toLocaleString()}</dd>
          </>
        )}
        {m.tokenFile === undefined ? null : (
          <>
            <dt>Token</dt>
            <dd className="mono">in {m.tokenFile}</dd>
          </>
        )}
      </dl>
      {m.connect === undefined ? null : (
        <div className="mounts-connect">
          <span className="muted small">Connect a runtime</span>
          <pre className="mono mounts-command">
            {Object.entries(m.connect.env)
              .map(([k, v]) => `export ${k}="${v}"`)
              .join('\n')}
            {'\n'}
            {m.connect.command}
          </pre>
        </div>
      )}
      {stop.isError ? (
        <p className="mounts-error" role="alert">
          {errorText(stop.error)}
        </p>
      ) : null}
    </li>
  );
}

/**
 * The model to offer for mounting, chosen by the embedding screen: an imported copy (`modelId` set when it was
 * imported under a licence: the broker releases its key). `null`: nothing selected. Absent: the panel asks for a path.
 */
export interface MountTarget {
  readonly path: string;
  readonly modelId: string | null;
  readonly verified: boolean;
}

export function MountsPanel({ model: target }: { readonly model?: MountTarget | null }) {
  const mounts = useMounts();
  const start = useStartMount();
  const task = useTask();
  const [typed, setTyped] = useState('');
  const [mode, setMode] = useState<MountModeName>('fuse');
  const [chosenSource, setKeySource] = useState<'local' | 'broker'>('local');
  const [typedId, setModelId] = useState('');
  const model = target === undefined ? typed : (target?.path ?? '');
  const keySource = target === undefined || target === null ? chosenSource : target.modelId === null ? 'local' : 'broker';
  const modelId = target?.modelId ?? typedId;
  const fuse = mounts.data?.fuse;
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    start.mutate({ run: (call) => task.run(call), req: { model: model.trim(), mode, keySource, ...(keySource === 'broker' ? { modelId: modelId.trim() } : {}) } });
  };
  const list = mounts.data?.mounts ?? [];
  return (
    <section className="card mounts-panel" aria-labelledby="mounts-title">
      <div className="mounts-head">
        <h2 id="mounts-title" className="card-title">
          Mounts for inference runtimes
        </h2>
        {mounts.data === undefined ? null : <span className="muted small mono">{mounts.data.runtimeDir}</span>}
      </div>
      <form className="mounts-form" onSubmit={submit}>
        {target === undefined ? (
          <label className="mounts-field mounts-model">
            <span>Packaged model (folder or file)</span>
            <input type="text" className="mono" value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="/path/to/model.cryptotensors" required />
          </label>
        ) : (
          <div className="mounts-field mounts-model">
            <span>Model</span>
            <span className="mono mounts-target">{target === null ? 'Select an imported model to mount it' : target.path}</span>
          </div>
        )}
        <label className="mounts-field">
          <span>Mode</span>
          <select value={mode} onChange={(e) => setMode(e.target.value as MountModeName)}>
            <option value="fuse" disabled={fuse?.available === false}>
              {MODE_LABEL.fuse}
            </option>
            <option value="http">{MODE_LABEL.http}</option>
            <option value="keys">{MODE_LABEL.keys}</option>
          </select>
        </label>
        {target === undefined ? (
          <label className="mounts-field">
            <span>Key</span>
            <select value={keySource} onChange={(e) => setKeySource(e.target.value as 'local' | 'broker')}>
              <option value="local">From this machine’s key store</option>
              <option value="broker">Released by the broker</option>
            </select>
          </label>
        ) : null}
        {keySource === 'broker' && target === undefined ? (
          <label className="mounts-field">
            <span>Model id</span>
            <input type="text" value={typedId} onChange={(e) => setModelId(e.target.value)} required />
          </label>
        ) : null}
        <button type="submit" className="button primary" disabled={task.running || model.trim() === ''}>
          Mount
        </button>
      </form>
      {fuse?.available === false ? <p className="muted small">FUSE is not available here ({fuse.reason ?? 'unknown reason'}): use loopback HTTP.</p> : null}
      <TaskProgress task={task} label="Mounting" unit="items" />
      {start.isError ? (
        <p className="mounts-error" role="alert">
          {errorText(start.error)}
        </p>
      ) : null}
      {mounts.isError ? (
        <p className="mounts-error" role="alert">
          {errorText(mounts.error)}
        </p>
      ) : list.length === 0 ? (
        <p className="muted mounts-empty">No model is mounted. Mounted weights exist in plaintext only in memory, and only while the licence allows.</p>
      ) : (
        <ul className="mounts-list" aria-label="Active mounts">
          {list.map((m) => (
            <MountRow key={m.id} m={m} />
          ))}
        </ul>
      )}
    </section>
  );
}
