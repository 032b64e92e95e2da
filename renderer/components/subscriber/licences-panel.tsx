/** The subscriber's licences: status, offline verdict, expiry, devices; sync; "Import…" for an active licence. */
import { useId } from 'react';
import type { LicenceRow } from '../../../app/ipc/ops/subscriber.ts';
import { useLicences } from '../../queries/subscriber.ts';
import { StatusDot } from '../icons.tsx';
import { VERDICT_TEXT, formatDate, formatDateTime, relativeTo, shortId } from './format.ts';

const STATUS_TEXT: Readonly<Record<LicenceRow['status'], string>> = { active: 'Active', pending: 'Awaiting approval', revoked: 'Revoked' };

export function LicencesPanel({ onImport, locked }: { readonly onImport: (row: LicenceRow) => void; readonly locked: boolean }) {
  const licences = useLicences(!locked);
  const headingId = useId();
  const data = licences.data;
  return (
    <section className="panel sub-panel" aria-labelledby={headingId} data-testid="licences">
      <div className="panel-head">
        <h2 id={headingId}>Licences</h2>
        <div className="sub-head-right">
          <span className="small muted" aria-live="polite">
            {data === undefined ? '' : data.offline ? (
              <span className="sub-offline">
                <StatusDot tone="warn" /> Broker unreachable — showing licences cached {data.syncedAt === null ? 'never' : formatDateTime(data.syncedAt)}
              </span>
            ) : (
              `Synced ${data.syncedAt === null ? '' : formatDateTime(data.syncedAt)}${data.revocationSeq === null ? '' : ` · revocation list #${data.revocationSeq}`}`
            )}
          </span>
          <button type="button" className="button secondary small-button" onClick={() => void licences.refetch()} disabled={licences.isFetching || locked}>
            {licences.isFetching ? 'Syncing…' : 'Sync now'}
          </button>
        </div>
      </div>
      {locked ? (
        <div className="sub-empty">
          <p className="sub-empty-title">Licences are locked</p>
          <p className="muted small">Unlock the key file above: this device signs every request to the broker with its key.</p>
        </div>
      ) : licences.isError ? (
        <p className="sub-error sub-pad" role="alert">
          {licences.error.message}
        </p>
      ) : data === undefined ? (
        <p className="muted sub-pad" role="status">
          Syncing licences with the broker…
        </p>
      ) : data.licences.length === 0 ? (
        <div className="sub-empty">
          <p className="sub-empty-title">No licences yet</p>
          <p className="muted small">Request access to a model with the id its publisher gave you. Licences appear here once granted.</p>
        </div>
      ) : (
        <table className="sub-table">
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Licence</th>
              <th scope="col">Expires</th>
              <th scope="col">Devices</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {data.licences.map((l) => {
              const v = VERDICT_TEXT[l.verdict];
              const here = l.devices.some((d) => d.thisDevice);
              return (
                <tr key={l.subscriptionId} data-testid="licence-row">
                  <td>
                    <div className="sub-model">{l.modelId}</div>
                    <div className="small muted">{STATUS_TEXT[l.status]}</div>
                  </td>
                  <td>
                    <span className={`sub-pill sub-pill-${v.tone}`} data-testid="licence-verdict">
                      <StatusDot tone={v.tone} /> {v.label}
                    </span>
                    {l.note === null ? null : <div className="small muted sub-note-cell">{l.note}</div>}
                  </td>
                  <td>
                    {l.notAfter === null ? (
                      <span className="muted">–</span>
                    ) : (
                      <>
                        <div>{formatDate(l.notAfter)}</div>
                        <div className="small muted">
                          {relativeTo(l.notAfter)}
                          {l.graceSeconds > 0 ? ` · ${Math.round(l.graceSeconds / 86400)} d grace` : ''}
                        </div>
                      </>
                    )}
                  </td>
                  <td>
                    <div>
                      {l.devices.length} {l.devices.length === 1 ? 'device' : 'devices'}
                    </div>
                    <div className="small muted" title={l.devices.map((d) => d.deviceId).join('\n')}>
                      {here ? 'including this one' : l.devices.length === 0 ? '' : `not this one (${shortId(l.devices[0]?.deviceId ?? '')})`}
                    </div>
                  </td>
                  <td className="sub-cell-actions">
                    <button type="button" className="button secondary small-button" onClick={() => onImport(l)} disabled={l.status !== 'active'} aria-label={`Import ${l.modelId}`}>
                      Import…
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
