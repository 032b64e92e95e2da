import { type FormEvent, useState } from 'react';
import type { FolderScan, RotationPlanView, RotationResult } from '../../../app/ipc/ops/security.ts';
import { api } from '../../lib/api.ts';
import { formatBytes, useTask } from '../../lib/task.ts';
import { TaskProgress } from '../task-progress.tsx';
import { chooseFolder, chooseSavePath, readBundle, useBrokerTarget, useCreateKey, useExportBundle, useKeyInventory, usePlanRotation, useRotationDone, useScanFolder } from '../../queries/security.ts';
import { BundlePush } from './bundle-push.tsx';
import { algLabel, dateTime, errorText, fullFingerprint, parentOf, shortFingerprint } from './format.ts';

const STEPS = ['Models', 'New key', 'Dry run', 'Rotate', 'Bundle'] as const;

function Stepper({ at }: { readonly at: number }) {
  return (
    <ol className="sec-steps" aria-label="Rotation steps">
      {STEPS.map((s, i) => (
        <li key={s} className={i < at ? 'done' : i === at ? 'current' : ''} aria-current={i === at ? 'step' : undefined}>
          <span className="sec-step-n">{i < at ? '✓' : i + 1}</span>
          {s}
        </li>
      ))}
    </ol>
  );
}

function ErrorLine({ error }: { readonly error: unknown }) {
  return (
    <div className="alert alert-bad sec-gap" role="alert">
      {errorText(error)}
    </div>
  );
}

function ScanSummary({ scan }: { readonly scan: FolderScan }) {
  return (
    <div className="sec-scan" data-testid="scan-summary">
      <dl className="facts">
        <dt>Models</dt>
        <dd>
          {scan.models.length} ({scan.models.map((m) => `${m.path}${m.kind === 'folder' ? ` · ${m.files} shards` : ''}`).join(', ')})
        </dd>
        <dt>Master key now</dt>
        <dd>
          {scan.masterKeys.length === 0
            ? 'none (no encrypted files)'
            : scan.masterKeys.map((k) => (
                <span key={k.kid} className="sec-keyref">
                  <span className="mono">{k.kid}</span> {algLabel(k.alg)} · {k.files} file(s) ·{' '}
                  {k.store === null ? <span className="sec-bad-text">not in any key store</span> : k.store === 'keychain' ? 'in the OS keychain' : 'in the file keystore'}
                </span>
              ))}
        </dd>
        <dt>Signed by</dt>
        <dd>
          {scan.signingKeys.map((k) => (
            <span key={k.kid} className="sec-keyref">
              <span className="mono">{k.kid}</span> · {k.store === null ? <span className="sec-bad-text">not in any key store</span> : k.canSign ? 'private key available' : 'public key only'}
            </span>
          ))}
        </dd>
        {scan.plainFiles > 0 ? (
          <>
            <dt>Not encrypted</dt>
            <dd>{scan.plainFiles} file(s), left as they are</dd>
          </>
        ) : null}
      </dl>
    </div>
  );
}

function PlanTable({ plan }: { readonly plan: RotationPlanView }) {
  const t = plan.totals;
  return (
    <div data-testid="dry-run">
      <div className="sec-plan-summary">
        {plan.enc === null ? null : (
          <div className="sec-change">
            <span className="muted small">Master key</span>
            <span className="mono">{plan.enc.oldKids.join(', ') || '—'}</span>
            <span aria-hidden="true">→</span>
            <span className="mono">{plan.enc.newKid}</span>
            <span className="muted small" title={fullFingerprint(plan.enc.newFingerprint)}>
              {shortFingerprint(plan.enc.newFingerprint, 2)}
            </span>
          </div>
        )}
        {plan.sign === null ? null : (
          <div className="sec-change">
            <span className="muted small">Signing key</span>
            <span className="mono">{plan.sign.oldKids.join(', ') || '—'}</span>
            <span aria-hidden="true">→</span>
            <span className="mono">{plan.sign.newKid}</span>
          </div>
        )}
        <p className="sec-totals">
          <strong>{t.filesToRewrap}</strong> file(s) to rewrap · <strong>{t.wrappedKeysChanging}</strong> wrapped data key(s) and <strong>{t.signaturesChanging}</strong> signature(s) change · {formatBytes(t.dataBytesUntouched)} of tensor data
          untouched{t.filesDone > 0 ? ` · ${t.filesDone} already done` : ''}
          {t.filesSkipped > 0 ? ` · ${t.filesSkipped} not encrypted` : ''}
        </p>
      </div>
      <div className="sec-table-wrap">
        <table className="sec-table sec-diff">
          <thead>
            <tr>
              <th scope="col">File</th>
              <th scope="col">Change</th>
              <th scope="col">Wrapped keys</th>
              <th scope="col">Signature</th>
              <th scope="col">Unchanged</th>
            </tr>
          </thead>
          <tbody>
            {plan.files.map((f) => (
              <tr key={f.path}>
                <td>
                  <span className="mono">{f.path}</span>
                  {f.model !== f.path ? <span className="muted small sec-block">shard of {f.model === '.' ? 'this folder' : f.model}</span> : null}
                </td>
                <td>
                  <span className={`sec-pill sec-pill-${f.status === 'rewrap' ? 'info' : f.status === 'done' ? 'ok' : 'idle'}`}>{f.status === 'rewrap' ? 'Rewrap' : f.status === 'done' ? 'Already done' : 'Untouched'}</span>
                </td>
                <td>
                  {f.wrappedKeysChange.length === 0 ? (
                    <span className="muted">—</span>
                  ) : (
                    <details>
                      <summary>
                        {f.wrappedKeysChange.length} of {f.tensors} tensors
                      </summary>
                      <ul className="sec-names mono">
                        {f.wrappedKeysChange.map((n) => (
                          <li key={n}>{n}</li>
                        ))}
                      </ul>
                    </details>
                  )}
                </td>
                <td>{f.signatureChanges ? `re-signed${plan.sign === null ? '' : ` by ${plan.sign.newKid}`}` : <span className="muted">unchanged</span>}</td>
                <td className="muted small">
                  {formatBytes(f.dataBytesUntouched)} data{f.plainTensors > 0 ? ` · ${f.plainTensors} plaintext tensor(s)` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {plan.untouched.length > 0 ? <p className="muted small">Also untouched: {plan.untouched.join(', ')} (the signed folder manifests are kept).</p> : null}
      {plan.problems.length > 0 ? (
        <div className="alert alert-bad sec-gap" role="alert">
          <strong>{plan.problems.length} file(s) cannot be rotated:</strong>
          <ul className="problems">
            {plan.problems.map((p) => (
              <li key={p.path}>
                <span className="mono">{p.path}</span>: {p.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}

function ResultView({ result }: { readonly result: RotationResult }) {
  const rewrapped = result.files.filter((f) => f.result === 'rewrapped').length;
  return (
    <div className="sec-result" data-testid="rotation-result">
      <p className="sec-result-head">
        <span className="dot dot-ok" aria-hidden="true" /> <strong>Rotation {result.resumed ? 'resumed and ' : ''}complete.</strong> {rewrapped} file(s) rewrapped;{' '}
        {result.models.filter((m) => m.ok).length} of {result.models.length} model(s) verified under the new key{result.sign === null ? '' : 's'}.
      </p>
      <ol className="sec-timeline">
        {result.steps.map((s) => (
          <li key={s.phase}>
            <span className="sec-step-dot" aria-hidden="true" />
            <span>{STEP_TEXT[s.phase] ?? s.phase}</span>
            {s.detail === undefined ? null : <span className="muted small"> · {s.detail}</span>}
          </li>
        ))}
      </ol>
      <p className="muted small">
        {result.enc === null ? '' : `${result.enc.newKid} is now ${result.keysets.enc ?? 'in use'}; the old key stays “previous” (it can still read old copies) until you retire it in the key inventory. `}
        {result.sign === null ? '' : `${result.sign.newKid} signs from now on.`}
      </p>
    </div>
  );
}

const STEP_TEXT: Readonly<Record<string, string>> = {
  plan: 'Checked every model under the current keys',
  rewrap: 'Rewrapped the data keys, one file at a time (atomic)',
  verify: 'Verified every model under the new keys alone',
  promote: 'Promoted the new keys in their keysets',
  bundle: 'Signed the rotation bundle',
  done: 'Journal closed',
};

function BundleExport({ result, folder, host }: { readonly result: RotationResult; readonly folder: string; readonly host: 'electron' | 'web' | undefined }) {
  const fileName = `rotation-${result.bundle.bundleId}.json`;
  const [path, setPath] = useState(`${parentOf(folder)}/${fileName}`);
  const save = useExportBundle();
  const [downloadError, setDownloadError] = useState<string | undefined>(undefined);
  const submit = (e: FormEvent, overwrite = false): void => {
    e.preventDefault();
    save.mutate({ bundleId: result.bundle.bundleId, path, overwrite });
  };
  const browse = async (): Promise<void> => {
    const chosen = await chooseSavePath(fileName);
    if (chosen !== null) setPath(chosen);
  };
  const download = async (): Promise<void> => {
    try {
      const b = await readBundle(result.bundle.bundleId);
      const url = URL.createObjectURL(new Blob([b.text], { type: 'application/json' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = b.fileName;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
      setDownloadError(undefined);
    } catch (err) {
      setDownloadError(errorText(err));
    }
  };
  const exists = save.isError && (save.error as { code?: string }).code === 'ALREADY_EXISTS';
  return (
    <div className="sec-bundle" data-testid="bundle-export">
      <dl className="facts">
        <dt>Bundle</dt>
        <dd className="mono">{result.bundle.bundleId}</dd>
        <dt>Covers</dt>
        <dd>{result.bundle.models} file(s)</dd>
        <dt>Wrapped for</dt>
        <dd>{result.bundle.recipients.length === 0 ? <span className="muted">no broker (add broker keys to carry the new master key to a broker)</span> : result.bundle.recipients.join(', ')}</dd>
        <dt>Signed by</dt>
        <dd>
          {result.bundle.signatures.map((s) => (
            <span key={s.fingerprint} className="sec-keyref">
              <span className="mono">{s.kid}</span> <span className="muted small">{shortFingerprint(s.fingerprint, 2)}</span>
            </span>
          ))}
        </dd>
        <dt>Kept at</dt>
        <dd className="mono small">{result.bundle.path}</dd>
        <dt>SHA-256</dt>
        <dd className="mono small">{result.bundle.sha256}</dd>
      </dl>
      <form className="sec-save" onSubmit={(e) => submit(e)}>
        <label htmlFor="sec-bundle-path">Save a copy for the broker to</label>
        <div className="sec-save-row">
          <input id="sec-bundle-path" className="mono" value={path} onChange={(e) => setPath(e.target.value)} spellCheck={false} />
          {host === 'electron' ? (
            <button type="button" className="button secondary" onClick={() => void browse()}>
              Choose…
            </button>
          ) : null}
          <button type="submit" className="button primary" disabled={save.isPending || path.trim() === ''}>
            {save.isPending ? 'Saving…' : 'Save bundle'}
          </button>
          {host === 'electron' ? null : (
            <button type="button" className="button secondary" onClick={() => void download()}>
              Download
            </button>
          )}
        </div>
      </form>
      {save.isSuccess ? (
        <p className="sec-saved" role="status" data-testid="bundle-saved">
          <span className="dot dot-ok" aria-hidden="true" /> Saved to <span className="mono">{save.data.path}</span> ({formatBytes(save.data.bytes)}). Carry it to the broker: it checks the signatures, unwraps the new master key and serves subscribers the rewrapped headers.
        </p>
      ) : null}
      {exists ? (
        <div className="alert alert-warn sec-gap" role="alert">
          {errorText(save.error)}{' '}
          <button type="button" className="button link" onClick={(e) => submit(e, true)}>
            Replace it
          </button>
        </div>
      ) : save.isError ? (
        <ErrorLine error={save.error} />
      ) : null}
      {downloadError === undefined ? null : <ErrorLine error={new Error(downloadError)} />}
    </div>
  );
}

export function RotationWizard({ host }: { readonly host: 'electron' | 'web' | undefined }) {
  const inv = useKeyInventory();
  const scan = useScanFolder();
  const plan = usePlanRotation();
  const createKey = useCreateKey();
  const rotationDone = useRotationDone();
  const task = useTask();
  const [folder, setFolder] = useState('');
  const [newMasterKid, setNewMasterKid] = useState('');
  const [newSigningKid, setNewSigningKid] = useState('');
  const [brokerKeys, setBrokerKeys] = useState('');
  const brokerTarget = useBrokerTarget();
  const appRecipient = brokerTarget.data?.producer?.recipient;
  const appBrokerId = brokerTarget.data?.producer?.brokerId;
  const [wrapForApp, setWrapForApp] = useState(true);
  const [result, setResult] = useState<RotationResult | undefined>(undefined);
  const [runError, setRunError] = useState<{ code: string; message: string } | undefined>(undefined);

  const scanned = scan.data;
  const currentAlg = scanned?.masterKeys[0]?.alg;
  const currentKids = new Set(scanned?.masterKeys.map((k) => k.kid) ?? []);
  const masterChoices = (inv.data?.keys ?? []).filter((k) => k.kind === 'master' && k.store !== 'environment' && !currentKids.has(k.kid) && (currentAlg === undefined || k.alg === currentAlg));
  const signChoices = (inv.data?.keys ?? []).filter((k) => k.kind === 'signing' && !k.verifyOnly && !(scanned?.signingKeys.some((s) => s.kid === k.kid) ?? false));
  const keysChosen = newMasterKid !== '' || newSigningKid !== '';
  const step = result !== undefined ? 4 : task.running || (scanned?.unfinished ?? null) !== null || plan.data !== undefined ? 3 : keysChosen ? 2 : scanned !== undefined ? 1 : 0;

  const reset = (): void => {
    plan.reset();
    setResult(undefined);
    setRunError(undefined);
  };

  const doScan = (e?: FormEvent): void => {
    e?.preventDefault();
    reset();
    setNewMasterKid('');
    setNewSigningKid('');
    scan.mutate({ folder: folder.trim() });
  };

  const browse = async (): Promise<void> => {
    const chosen = await chooseFolder();
    if (chosen !== null) setFolder(chosen);
  };

  const createMaster = (): void => {
    const alg = (currentAlg ?? 'aes256gcm') as 'aes256gcm' | 'aes128gcm' | 'chacha20poly1305';
    const keychainOk = inv.data?.stores.find((s) => s.kind === 'keychain')?.available === true;
    createKey.mutate({ alg, store: keychainOk ? 'keychain' : 'file', label: 'rotation target' }, { onSuccess: (row) => (reset(), setNewMasterKid(row.kid)) });
  };

  const keyReq = (): { folder: string; newMasterKid?: string; newSigningKid?: string } => ({
    folder: folder.trim(),
    ...(newMasterKid === '' ? {} : { newMasterKid }),
    ...(newSigningKid === '' ? {} : { newSigningKid }),
  });

  const run = async (resume: boolean): Promise<void> => {
    setRunError(undefined);
    const typed = brokerKeys.split(/[\s,]+/).filter((b) => b !== '');
    const brokers = wrapForApp && appRecipient !== undefined && !typed.includes(appRecipient) ? [appRecipient, ...typed] : typed;
    const r = await task.run((taskId) => api.security.rotate({ taskId, ...(resume ? { folder: folder.trim() } : keyReq()), ...(resume ? { resume: true } : {}), ...(brokers.length === 0 ? {} : { brokerKeys: brokers }) }));
    rotationDone();
    if (r.ok) setResult(r.value);
    else setRunError(r.error);
    scan.mutate({ folder: folder.trim() }); // an interrupted rotation shows up as resumable
  };

  const unfinished = scanned?.unfinished ?? null;
  return (
    <section aria-labelledby="sec-rot-title" className="sec-section">
      <div className="sec-section-head">
        <div>
          <h2 id="sec-rot-title">Offline key rotation</h2>
          <p className="muted small">Rewraps every model in a folder under a new master key (and optionally a new signing key) without touching tensor data. Every file stays valid throughout; an interrupted rotation resumes where it stopped.</p>
        </div>
      </div>
      <Stepper at={step} />

      <div className="card sec-card">
        <h3 className="sec-card-title">1 · Models</h3>
        <form className="sec-save-row" onSubmit={doScan}>
          <label htmlFor="sec-folder" className="visually-hidden">
            Folder with the encrypted models
          </label>
          <input id="sec-folder" className="mono" placeholder="/path/to/models" value={folder} onChange={(e) => setFolder(e.target.value)} spellCheck={false} disabled={task.running} />
          {host === 'electron' ? (
            <button type="button" className="button secondary" onClick={() => void browse()} disabled={task.running}>
              Browse…
            </button>
          ) : null}
          <button type="submit" className="button primary" disabled={folder.trim() === '' || scan.isPending || task.running}>
            {scan.isPending ? 'Reading…' : 'Read folder'}
          </button>
        </form>
        {scan.isError ? <ErrorLine error={scan.error} /> : null}
        {scanned === undefined ? null : <ScanSummary scan={scanned} />}
        {unfinished === null || task.running ? null : (
          <div className="alert alert-warn sec-gap" role="alert" data-testid="unfinished-rotation">
            <strong>An interrupted rotation was found.</strong> Rotation <span className="mono">{unfinished.rotationId}</span> to {unfinished.newMasterKid ?? unfinished.newSigningKid} stopped at “{unfinished.phase}” with {unfinished.filesDone} of{' '}
            {unfinished.filesTotal} files done (last update {dateTime(unfinished.updatedAt)}). Every file is valid under the old or the new key.
            <div className="sec-gap">
              <button type="button" className="button primary" onClick={() => void run(true)}>
                Resume rotation
              </button>
            </div>
          </div>
        )}
      </div>

      {scanned === undefined || unfinished !== null ? null : (
        <div className="card sec-card">
          <h3 className="sec-card-title">2 · New keys</h3>
          <div className="sec-keys-grid">
            <div className="sec-field">
              <label htmlFor="sec-new-master">New master key{currentAlg === undefined ? '' : ` (${algLabel(currentAlg)})`}</label>
              <div className="sec-save-row">
                <select id="sec-new-master" value={newMasterKid} onChange={(e) => (reset(), setNewMasterKid(e.target.value))} disabled={task.running}>
                  <option value="">Keep the current master key</option>
                  {masterChoices.map((k) => (
                    <option key={k.kid} value={k.kid}>
                      {k.kid} · {shortFingerprint(k.fingerprint, 2)} · {k.store === 'keychain' ? 'keychain' : 'file keystore'}
                    </option>
                  ))}
                </select>
                <button type="button" className="button secondary" onClick={createMaster} disabled={createKey.isPending || task.running}>
                  {createKey.isPending ? 'Creating…' : 'Create new key'}
                </button>
              </div>
            </div>
            <div className="sec-field">
              <label htmlFor="sec-new-sign">Signing key</label>
              <select id="sec-new-sign" value={newSigningKid} onChange={(e) => (reset(), setNewSigningKid(e.target.value))} disabled={task.running}>
                <option value="">Keep signing with {scanned.signingKeys.map((s) => s.kid).join(', ') || 'the current key'}</option>
                {signChoices.map((k) => (
                  <option key={k.kid} value={k.kid}>
                    Rotate to {k.kid} · {shortFingerprint(k.fingerprint, 2)}
                  </option>
                ))}
              </select>
            </div>
          </div>
          {createKey.isError ? <ErrorLine error={createKey.error} /> : null}
          <div className="sec-actions">
            <button type="button" className="button primary" disabled={!keysChosen || plan.isPending || task.running} onClick={() => plan.mutate(keyReq())}>
              {plan.isPending ? 'Checking every file…' : 'Dry run'}
            </button>
            <span className="muted small">The dry run opens every model under the current keys and changes nothing.</span>
          </div>
        </div>
      )}

      {plan.isError ? <ErrorLine error={plan.error} /> : null}
      {plan.data === undefined ? null : (
        <div className="card sec-card">
          <h3 className="sec-card-title">3 · What will change</h3>
          <PlanTable plan={plan.data} />
          {result === undefined && appBrokerId !== undefined ? (
            <div className="sec-check">
              <input id="sec-wrap-app" type="checkbox" checked={wrapForApp} onChange={(e) => setWrapForApp(e.target.checked)} disabled={task.running} />
              <label htmlFor="sec-wrap-app">
                Wrap the new key for this app’s broker (<span className="mono">{appBrokerId}</span>), so the bundle can be sent to it from here
              </label>
            </div>
          ) : null}
          {result === undefined ? (
            <div className="sec-field">
              <label htmlFor="sec-broker-keys">{appRecipient === undefined ? 'Broker keys the new master key is wrapped for (optional)' : 'Other broker keys the new master key is wrapped for (optional)'}</label>
              <input id="sec-broker-keys" className="mono" placeholder="broker-id:base64 X25519 public key — one or more, separated by spaces" value={brokerKeys} onChange={(e) => setBrokerKeys(e.target.value)} spellCheck={false} disabled={task.running} />
            </div>
          ) : null}
          {result === undefined ? (
            <div className="sec-actions">
              <button type="button" className="button primary" disabled={task.running || plan.data.problems.length > 0 || plan.data.totals.filesToRewrap + plan.data.totals.filesDone === 0} onClick={() => void run(false)}>
                Rotate {plan.data.totals.filesToRewrap} file(s)
              </button>
              <span className="muted small">Journal: <span className="mono">{plan.data.journal}</span></span>
            </div>
          ) : null}
        </div>
      )}

      <TaskProgress task={task} label="Rotating keys" unit="items" />
      {runError === undefined ? null : (
        <div className={`alert ${runError.code === 'CANCELLED' ? 'alert-warn' : 'alert-bad'} sec-gap`} role="alert" data-testid="rotation-error">
          {runError.message}
        </div>
      )}

      {result === undefined ? null : (
        <div className="card sec-card">
          <h3 className="sec-card-title">4 · Result</h3>
          <ResultView result={result} />
          <h3 className="sec-card-title sec-gap">5 · Rotation bundle</h3>
          <BundleExport result={result} folder={result.folder} host={host} />
          <BundlePush result={result} />
        </div>
      )}
    </section>
  );
}
