import { useState } from 'react';
import type { AuditRow, AuditView } from '../../../app/ipc/ops/security.ts';
import { useAuditLog, useKeyInventory, useSignCheckpoint } from '../../queries/security.ts';
import { dateTime, errorText, shortFingerprint } from './format.ts';

function Verification({ v }: { readonly v: AuditView['verification'] }) {
  if (!v.ok) {
    const first = v.problems[0];
    return (
      <div className="sec-verify sec-verify-bad" role="alert" data-testid="audit-verification">
        <span className="dot dot-bad" aria-hidden="true" />
        <div>
          <strong>Tampering detected: {v.problems.length} problem(s).</strong>
          {first === undefined ? null : (
            <p className="sec-verify-line">
              Entry {first.entry}
              {first.seq === undefined ? '' : ` (seq ${first.seq})`}: {first.message}
            </p>
          )}
          <p className="muted small">Keep a copy of the log file before repairing anything; the entries with problems are marked below.</p>
        </div>
      </div>
    );
  }
  const signed = v.checkpoints > 0;
  return (
    <div className={`sec-verify ${v.unsignedTail > 0 || !signed ? 'sec-verify-warn' : 'sec-verify-ok'}`} role="status" data-testid="audit-verification">
      <span className={`dot ${v.unsignedTail > 0 || !signed ? 'dot-warn' : 'dot-ok'}`} aria-hidden="true" />
      <div>
        <strong>{v.entries === 0 ? 'The audit log is empty.' : `Verified: the hash chain of all ${v.entries} entries is intact.`}</strong>
        <p className="sec-verify-line muted">
          {signed ? `${v.checkpoints} signed checkpoint(s), the last at seq ${v.lastCheckpointSeq}` : 'No signed checkpoints yet'}
          {v.signers.length > 0 ? ` · signed by ${v.signers.map((s) => `${s.kid ?? shortFingerprint(s.fingerprint, 2)}${s.ours ? '' : ' (not one of your keys)'}`).join(', ')}` : ''}
          {v.unsignedTail > 0 ? ` · ${v.unsignedTail} entr${v.unsignedTail === 1 ? 'y' : 'ies'} after the last checkpoint` : ''}
          {v.head === null ? '' : ` · head seq ${v.head.seq}`}
        </p>
      </div>
    </div>
  );
}

const RESULT_TEXT: Readonly<Record<string, string>> = { ok: 'OK', denied: 'Denied', failed: 'Failed' };

function Details({ d }: { readonly d: AuditRow['details'] }) {
  const entries = Object.entries(d).filter(([k]) => k !== 'signerPublicKey' && k !== 'publicKey');
  if (entries.length === 0) return <span className="muted">—</span>;
  return (
    <span className="sec-details">
      {entries.map(([k, v]) => (
        <span key={k} className="sec-detail">
          <span className="muted">{k}</span> <span className="mono">{typeof v === 'string' && v.startsWith('mvfp1:') ? shortFingerprint(v, 2) : String(v).length > 40 ? `${String(v).slice(0, 40)}…` : String(v)}</span>
        </span>
      ))}
    </span>
  );
}

function CheckpointForm() {
  const inv = useKeyInventory();
  const sign = useSignCheckpoint();
  const signers = (inv.data?.keys ?? []).filter((k) => k.kind === 'signing' && !k.verifyOnly);
  const [kid, setKid] = useState('');
  const chosen = kid !== '' ? kid : (signers[0]?.kid ?? '');
  if (signers.length === 0) return null;
  return (
    <div className="sec-inline-form">
      <label htmlFor="sec-cp-key">Sign a checkpoint with</label>
      <select id="sec-cp-key" value={chosen} onChange={(e) => setKid(e.target.value)}>
        {signers.map((k) => (
          <option key={k.kid} value={k.kid}>
            {k.kid}
          </option>
        ))}
      </select>
      <button type="button" className="button secondary" disabled={sign.isPending || chosen === ''} onClick={() => sign.mutate({ signingKid: chosen })}>
        {sign.isPending ? 'Signing…' : 'Sign checkpoint'}
      </button>
      {sign.isError ? (
        <span className="sec-error small" role="alert">
          {errorText(sign.error)}
        </span>
      ) : null}
    </div>
  );
}

export function AuditViewer() {
  const [action, setAction] = useState('');
  const [actor, setActor] = useState('');
  const [result, setResult] = useState<'' | 'ok' | 'denied' | 'failed'>('');
  const [text, setText] = useState('');
  const [problemsOnly, setProblemsOnly] = useState(false);
  const filter = { limit: 300, ...(action === '' ? {} : { action }), ...(actor === '' ? {} : { actor }), ...(result === '' ? {} : { result }), ...(text.trim() === '' ? {} : { text: text.trim() }), ...(problemsOnly ? { problemsOnly } : {}) };
  const log = useAuditLog(filter);
  return (
    <section aria-labelledby="sec-audit-title" className="sec-section">
      <div className="sec-section-head">
        <div>
          <h2 id="sec-audit-title">Audit log</h2>
          <p className="muted small">
            Every sensitive act, hash-chained; signed checkpoints make history before them impossible to rewrite. {log.data === undefined ? '' : <span className="mono">{log.data.path}</span>}
          </p>
        </div>
        <button type="button" className="button secondary" onClick={() => void log.refetch()} disabled={log.isFetching}>
          {log.isFetching ? 'Verifying…' : 'Verify again'}
        </button>
      </div>
      {log.isPending ? (
        <p className="muted" role="status">
          Reading and verifying the audit log…
        </p>
      ) : log.isError ? (
        <div className="alert alert-bad" role="alert">
          <strong>Could not read the audit log.</strong> {errorText(log.error)}
        </div>
      ) : (
        <>
          <Verification v={log.data.verification} />
          <div className="sec-filters" role="search" aria-label="Filter the audit log">
            <div className="sec-field">
              <label htmlFor="sec-f-action">Action</label>
              <select id="sec-f-action" value={action} onChange={(e) => setAction(e.target.value)}>
                <option value="">All actions</option>
                {log.data.actions.map((a) => (
                  <option key={a} value={a}>
                    {a}
                  </option>
                ))}
              </select>
            </div>
            <div className="sec-field">
              <label htmlFor="sec-f-actor">Actor</label>
              <select id="sec-f-actor" value={actor} onChange={(e) => setActor(e.target.value)}>
                <option value="">Everyone</option>
                {log.data.actors.map((a) => (
                  <option key={a} value={a}>
                    {a}
                  </option>
                ))}
              </select>
            </div>
            <div className="sec-field">
              <label htmlFor="sec-f-result">Result</label>
              <select id="sec-f-result" value={result} onChange={(e) => setResult(e.target.value as typeof result)}>
                <option value="">Any</option>
                <option value="ok">ok</option>
                <option value="denied">denied</option>
                <option value="failed">failed</option>
              </select>
            </div>
            <div className="sec-field sec-field-grow">
              <label htmlFor="sec-f-text">Search</label>
              <input id="sec-f-text" type="search" placeholder="kid, fingerprint, path…" value={text} onChange={(e) => setText(e.target.value)} />
            </div>
            <label className="sec-check">
              <input type="checkbox" checked={problemsOnly} onChange={(e) => setProblemsOnly(e.target.checked)} /> Problems only
            </label>
          </div>
          <div className="sec-table-wrap card">
            <table className="sec-table sec-audit" data-testid="audit-table">
              <caption className="visually-hidden">Audit entries, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Time</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Object</th>
                  <th scope="col">Result</th>
                  <th scope="col">Details</th>
                </tr>
              </thead>
              <tbody>
                {log.data.entries.map((e) => (
                  <tr key={e.entry} className={e.problems.length > 0 ? 'sec-row-bad' : e.checkpoint ? 'sec-row-cp' : ''} data-entry={e.entry}>
                    <td className="mono small">{e.seq ?? '?'}</td>
                    <td className="small">{e.time === '' ? '—' : dateTime(e.time)}</td>
                    <td>{e.actor}</td>
                    <td className="mono small">
                      {e.checkpoint ? '✎ ' : ''}
                      {e.action}
                    </td>
                    <td className="mono small sec-object" title={e.object}>
                      {e.object}
                    </td>
                    <td>
                      <span className={`sec-pill sec-pill-${e.result === 'ok' ? 'ok' : e.result === 'denied' ? 'warn' : 'bad'}`}>{RESULT_TEXT[e.result] ?? e.result}</span>
                    </td>
                    <td className="small">
                      <Details d={e.details} />
                      {e.problems.map((p) => (
                        <span key={p} className="sec-problem">
                          {p}
                        </span>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {log.data.entries.length === 0 ? <p className="muted sec-empty-row">No entries match these filters.</p> : null}
          </div>
          <div className="sec-audit-foot">
            <span className="muted small">
              Showing {log.data.entries.length} of {log.data.matched} matching ({log.data.total} in the log).
            </span>
            <CheckpointForm />
          </div>
        </>
      )}
    </section>
  );
}
