/** The shared verify report (renderer/components/verify-report.tsx) with the subscriber's licence and key release rows. */
import type { SubscriberVerifyView } from '../../../app/ipc/ops/subscriber.ts';
import { VerifyCheck, VerifyReport } from '../verify-report.tsx';
import { VERDICT_TEXT, formatDate, relativeTo } from './format.ts';

const RELEASE_TEXT = {
  granted: { tone: 'ok', label: 'Released to this device' },
  denied: { tone: 'bad', label: 'Refused by the broker' },
  offline: { tone: 'warn', label: 'Not asked: broker unreachable' },
  'not-applicable': { tone: 'idle', label: 'Not applicable' },
} as const;

export function LicenceVerifyReport({ view, name }: { readonly view: SubscriberVerifyView; readonly name: string }) {
  const l = view.licence;
  const v = l === null ? undefined : VERDICT_TEXT[l.verdict];
  const release = l === null ? undefined : RELEASE_TEXT[l.keyRelease];
  return (
    <VerifyReport report={view.report} title={`Verification of ${name}`}>
      {l === null || v === undefined || release === undefined ? (
        <VerifyCheck tone="idle" title="Licence">
          Imported without a licence: nothing to check. Import it again with your licence to open it.
        </VerifyCheck>
      ) : (
        <>
          <VerifyCheck tone={v.tone} title="Licence">
            <span className="vr-strong" data-testid="verify-licence">
              {v.label}
            </span>
            {l.notAfter === null ? null : (
              <span className="muted">
                {' '}
                until {formatDate(l.notAfter)} ({relativeTo(l.notAfter)})
              </span>
            )}
            <div className="small muted">
              {l.licenceId === null ? 'No licence document.' : `Signed by the broker · ${l.devices} ${l.devices === 1 ? 'device' : 'devices'}${l.thisDevice ? ', including this one' : ', not this one'}`}
            </div>
            {l.note === null ? null : <div className="small">{l.note}</div>}
          </VerifyCheck>
          <VerifyCheck tone={release.tone} title="Key release">
            <span className="vr-strong" data-testid="verify-key-release">
              {release.label}
            </span>
            <div className="small muted">
              {l.keyRelease === 'granted' ? 'Your subscriber key, wrapped to this device, decrypted every tensor; it was not stored.' : (l.keyReleaseNote ?? '')}
            </div>
            {l.keyRelease === 'granted' && l.keyReleaseNote !== null ? <div className="small">{l.keyReleaseNote}</div> : null}
          </VerifyCheck>
        </>
      )}
    </VerifyReport>
  );
}
