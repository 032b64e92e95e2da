/**
 * The mounts panel (issue 8), embedded by the subscriber view: mount a verified model for a local inference runtime
 * (FUSE folder, loopback HTTP, or key release), the active mounts with how a runtime connects to each, and unmount.
 * Nothing secret is shown: the HTTP token and released keys stay in 0600 files, and the commands read them with
 * `$(cat …)`.
 *
 * Mounting an imported copy is offered only once its verify report passed in this session (MountTarget.verification):
 * the person mounting has then seen the signer, the signature, every tensor decrypted and authenticated, the side
 * files and the licence. The mount service checks the signature, policy and side files again and the broker checks
 * the licence again when it releases the key; the gate is about what the person has seen, not a replacement.
 */
import { useEffect, useId, useState, type FormEvent } from 'react';
import type { MountModeName, MountSummary } from '../../app/ipc/ops/mount.ts';
import { useTask } from '../lib/task.ts';
import { useMounts, useStartMount, useStopMount } from '../queries/mount.ts';
import { StatusDot } from './icons.tsx';
import { TaskProgress } from './task-progress.tsx';
import { formatFingerprint } from './verify-report.tsx';
import './mounts-panel.css';

const MODE_LABEL: Readonly<Record<MountModeName, string>> = { fuse: 'Folder (FUSE)', http: 'Loopback HTTP', keys: 'Key release' };

const MODE_HINT: Readonly<Record<MountModeName, string>> = {
  fuse: 'A read-only folder: each shard reads as plain safetensors, decrypted in memory on read; nothing is written to disk.',
  http: 'The same files on 127.0.0.1, behind a per-mount bearer token kept in a private file.',
  keys: 'The key in a private file on tmpfs, for runtimes that load CryptoTensors files themselves.',
};

const TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const DATE_TIME = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : 'The operation failed.';
}

function lastSegment(path: string): string {
  return path.split('/').filter((s) => s !== '').pop() ?? path;
}

function MountRow({ m, name }: { readonly m: MountSummary; readonly name: string }) {
  const stop = useStopMount();
  const titleId = useId();
  const started = new Date(m.startedAt);
  return (
    <li className="mounts-row" data-testid={`mount-${m.id}`} aria-labelledby={titleId}>
      <div className="mounts-row-head">
        <StatusDot tone="ok" />
        <div className="mounts-row-title">
          <strong id={titleId}>{name}</strong>
          <span className="muted small">
            {MODE_LABEL[m.mode]} · {m.files.length} files · mounted {Number.isNaN(started.getTime()) ? '' : TIME.format(started)}
            {m.owner === 'cli' ? ` · by the command line (pid ${m.pid})` : ''}
          </span>
        </div>
        {m.owner === 'app' ? (
          <button type="button" className="button secondary small-button" onClick={() => stop.mutate({ id: m.id })} disabled={stop.isPending} aria-label={`Unmount ${name} (${MODE_LABEL[m.mode]})`}>
            {stop.isPending ? 'Unmounting…' : 'Unmount'}
          </button>
        ) : (
          <span className="muted small">Unmount with model-vault unmount {m.id}</span>
        )}
      </div>
      <dl className="facts small mounts-facts">
        {m.mountpoint === undefined ? null : (
          <>
            <dt>Folder</dt>
            <dd className="mono" data-testid="mount-folder">
              {m.mountpoint}
            </dd>
          </>
        )}
        {m.url === undefined ? null : (
          <>
            <dt>Address</dt>
            <dd className="mono" data-testid="mount-url">
              {m.url}
            </dd>
          </>
        )}
        {m.tokenFile === undefined ? null : (
          <>
            <dt>Token</dt>
            <dd>
              in <span className="mono" data-testid="mount-token-file">{m.tokenFile}</span> <span className="muted">(readable by you only; never shown)</span>
            </dd>
          </>
        )}
        {m.keysFile === undefined ? null : (
          <>
            <dt>Keys</dt>
            <dd>
              in <span className="mono" data-testid="mount-keys-file">{m.keysFile}</span> <span className="muted">(readable by you only; removed on unmount)</span>
            </dd>
          </>
        )}
        {m.licence === undefined ? null : (
          <>
            <dt>Licence</dt>
            <dd>valid until {DATE_TIME.format(new Date(m.licence.notAfter))}; reads stop if it expires or is revoked</dd>
          </>
        )}
        {m.signer === undefined ? null : (
          <>
            <dt>Signer</dt>
            <dd className="mono">{formatFingerprint(m.signer)}</dd>
          </>
        )}
        <dt>Source</dt>
        <dd className="mono">{m.model}</dd>
      </dl>
      {m.connect === undefined ? null : <ConnectBlock env={m.connect.env} command={m.connect.command} label={`${name} (${MODE_LABEL[m.mode]})`} />}
      {stop.isError ? (
        <p className="mounts-error" role="alert">
          {errorText(stop.error)}
        </p>
      ) : null}
    </li>
  );
}

/** How a runtime connects (variables and an example command; they name files, never hold a secret), with Copy. */
function ConnectBlock({ env, command, label }: { readonly env: Readonly<Record<string, string>>; readonly command: string; readonly label: string }) {
  const [copied, setCopied] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (copied === 'idle') return undefined;
    const timer = setTimeout(() => setCopied('idle'), 4000);
    return () => clearTimeout(timer);
  }, [copied]);
  const text = `${Object.entries(env)
    .map(([k, v]) => `export ${k}="${v}"`)
    .join('\n')}\n${command}`;
  const copy = (): void => {
    navigator.clipboard.writeText(text).then(
      () => setCopied('copied'),
      () => setCopied('failed'),
    );
  };
  return (
    <div className="mounts-connect">
      <div className="mounts-connect-head">
        <span className="mounts-connect-title">Connect a runtime</span>
        <span className="muted small" role="status">
          {copied === 'copied' ? 'Copied to the clipboard' : copied === 'failed' ? 'The clipboard is not available: select the text instead' : ''}
        </span>
        <button type="button" className="button secondary small-button" onClick={copy} aria-label={`Copy commands for ${label}`}>
          Copy commands
        </button>
      </div>
      <pre className="mono mounts-command" data-testid="mount-connect">
        {text}
      </pre>
    </div>
  );
}

/** Where the selected copy's verification stands in this session (its verify report, not an older run). */
export type MountVerification = 'passed' | 'failed' | 'running' | 'not-run';

/**
 * The model to offer for mounting, chosen by the embedding screen: an imported copy (`modelId` set when it was
 * imported under a licence: the broker releases its key). `null`: nothing selected. Absent: the panel asks for a path.
 */
export interface MountTarget {
  readonly name: string;
  readonly path: string;
  readonly modelId: string | null;
  readonly verification: MountVerification;
}

export interface MountsPanelProps {
  readonly model?: MountTarget | null;
  /** Runs the verification of the selected copy (shown when it has not run in this session). */
  readonly onVerify?: () => void;
  /** A display name for a mounted folder or file (the imported copy's name), else its last path segment. */
  readonly nameOf?: (modelPath: string) => string | undefined;
}

function VerifyGate({ target, onVerify }: { readonly target: MountTarget; readonly onVerify: (() => void) | undefined }) {
  switch (target.verification) {
    case 'passed':
      return null;
    case 'running':
      return (
        <p className="mounts-gate" role="status">
          Verifying {target.name}… Mounting is offered once its verification passes.
        </p>
      );
    case 'failed':
      return (
        <p className="mounts-gate mounts-gate-bad" role="alert">
          {target.name} did not pass verification in this session, so it cannot be mounted. Fix what the report above names, then verify it again.
        </p>
      );
    case 'not-run':
      return (
        <div className="mounts-gate" role="note">
          <span>Verify {target.name} first: mounting is offered once its signature, signer, tensors, side files and licence check out in this session.</span>
          {onVerify === undefined ? null : (
            <button type="button" className="button secondary small-button" onClick={onVerify}>
              Verify this copy
            </button>
          )}
        </div>
      );
  }
}

export function MountsPanel({ model: target, onVerify, nameOf }: MountsPanelProps) {
  const mounts = useMounts();
  const start = useStartMount();
  const task = useTask();
  const headingId = useId();
  const hintId = useId();
  const [typed, setTyped] = useState('');
  const [mode, setMode] = useState<MountModeName>('fuse');
  const [chosenSource, setKeySource] = useState<'local' | 'broker'>('local');
  const [typedId, setModelId] = useState('');
  const model = target === undefined ? typed : (target?.path ?? '');
  const keySource = target === undefined || target === null ? chosenSource : target.modelId === null ? 'local' : 'broker';
  const modelId = target?.modelId ?? typedId;
  const fuse = mounts.data?.fuse;
  // A typed path is verified by the mount itself; an imported copy only after its verify report passed (see above).
  const allowed = target === undefined || target?.verification === 'passed';
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    if (!allowed) return;
    start.mutate({ run: (call) => task.run(call), req: { model: model.trim(), mode, keySource, ...(keySource === 'broker' ? { modelId: modelId.trim() } : {}) } });
  };
  const list = mounts.data?.mounts ?? [];
  const nameFor = (m: MountSummary): string => nameOf?.(m.model) ?? lastSegment(m.model);
  return (
    <section className="panel mounts-panel" aria-labelledby={headingId} data-testid="mounts">
      <div className="panel-head">
        <h2 id={headingId}>Mount for a local runtime</h2>
        {mounts.data === undefined ? null : (
          <span className="small muted mounts-runtime" title={`Mount points and the registry of active mounts are kept in ${mounts.data.runtimeDir}, readable by you only.`}>
            Private runtime folder <span className="mono">{mounts.data.runtimeDir}</span>
          </span>
        )}
      </div>
      <div className="mounts-body">
        <form className="mounts-form" onSubmit={submit}>
          {target === undefined ? (
            <label className="mounts-field mounts-model">
              <span>Packaged model (folder or file)</span>
              <input type="text" className="mono" value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="/path/to/model.cryptotensors" required />
            </label>
          ) : (
            <div className="mounts-field mounts-model">
              <span>Model</span>
              {target === null ? (
                <span className="mounts-target mounts-target-none">Verify a model in the list above: mounting is offered once it passes in this session.</span>
              ) : (
                <span className="mounts-target">
                  <strong data-testid="mount-target">{target.name}</strong>
                  <span className="mono small muted mounts-target-path" title={target.path} data-testid="mount-target-path">
                    {target.path}
                  </span>
                </span>
              )}
            </div>
          )}
          <label className="mounts-field">
            <span>Mode</span>
            <select value={mode} onChange={(e) => setMode(e.target.value as MountModeName)} aria-describedby={hintId}>
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
          <button type="submit" className="button primary" disabled={task.running || !allowed || model.trim() === ''}>
            Mount
          </button>
        </form>
        <p className="muted small mounts-hint" id={hintId}>
          {MODE_HINT[mode]}
          {keySource === 'broker' ? ' The broker releases the key to this device, and the licence guards every read.' : ''}
        </p>
        {target === undefined || target === null ? null : <VerifyGate target={target} onVerify={onVerify} />}
        {fuse?.available === false ? <p className="muted small mounts-hint">FUSE is not available here ({fuse.reason ?? 'unknown reason'}): use loopback HTTP.</p> : null}
        <TaskProgress task={task} label="Mounting" unit="items" />
        {start.isError ? (
          <p className="mounts-error" role="alert">
            {errorText(start.error)}
          </p>
        ) : null}
      </div>
      {mounts.isError ? (
        <p className="mounts-error mounts-body" role="alert">
          {errorText(mounts.error)}
        </p>
      ) : list.length === 0 ? (
        <div className="mounts-empty">
          <p className="mounts-empty-title">No model is mounted</p>
          <p className="muted small">Mounted weights exist in plaintext only in memory, and only while the licence allows.</p>
        </div>
      ) : (
        <div className="mounts-active">
          <h3 className="mounts-active-title">
            Active mounts <span className="muted">({list.length})</span>
          </h3>
          <ul className="mounts-list" aria-label="Active mounts">
            {list.map((m) => (
              <MountRow key={m.id} m={m} name={nameFor(m)} />
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
