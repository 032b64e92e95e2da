/** Enrollment (before) and this device with "request access" (after) — the top of the subscriber view. */
import { type FormEvent, useId, useState } from 'react';
import type { LicenceRow, SubscriberEnrollment, SubscriberIdentity } from '../../../app/ipc/ops/subscriber.ts';
import { useEnroll, useRevokeDevice, useSubscribe, useUnlockKeyFile } from '../../queries/subscriber.ts';
import { StatusDot } from '../icons.tsx';
import { formatDate, shortId } from './format.ts';

function brokerLine(b: SubscriberIdentity['broker']): string {
  return b.mode === 'embedded' ? 'the key broker built into Model Vault (this machine)' : b.location;
}

export function EnrollCard({ identity }: { readonly identity: SubscriberIdentity }) {
  const enroll = useEnroll();
  const [name, setName] = useState('');
  const [label, setLabel] = useState(defaultDeviceLabel());
  const [invite, setInvite] = useState('');
  const ids = { name: useId(), label: useId(), invite: useId(), error: useId() };
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    enroll.mutate({ name: name.trim(), label: label.trim(), ...(invite.trim() === '' ? {} : { invite: invite.trim() }) });
  };
  return (
    <section className="card sub-enroll" aria-labelledby={`${ids.name}-h`}>
      <div className="sub-enroll-intro">
        <h2 id={`${ids.name}-h`} className="sub-h2">
          Enroll this device
        </h2>
        <p className="muted">
          Enrolling creates this device&apos;s key in your OS keychain (or the encrypted key file) and registers its public half with{' '}
          <strong>{brokerLine(identity.broker)}</strong>. Publishers then grant your licences to this device; keys for their models are only ever released to it.
        </p>
        <ul className="sub-points small muted">
          <li>The private key never leaves this machine.</li>
          <li>Open enrollment needs no code; a publisher may instead give you an invite code.</li>
        </ul>
      </div>
      <form className="sub-form" onSubmit={submit} aria-describedby={enroll.isError ? ids.error : undefined}>
        <label htmlFor={ids.name}>Your name or organisation</label>
        <input id={ids.name} className="input" value={name} onChange={(e) => setName(e.target.value)} required maxLength={120} autoComplete="organization" placeholder="e.g. Northwind Research" />
        <label htmlFor={ids.label}>Device name</label>
        <input id={ids.label} className="input" value={label} onChange={(e) => setLabel(e.target.value)} required maxLength={120} />
        <label htmlFor={ids.invite}>
          Invite code <span className="muted">(optional)</span>
        </label>
        <input id={ids.invite} className="input mono" value={invite} onChange={(e) => setInvite(e.target.value)} maxLength={200} autoComplete="off" spellCheck={false} />
        {enroll.isError ? (
          <p id={ids.error} className="sub-error" role="alert">
            {enroll.error.message}
          </p>
        ) : null}
        <div className="sub-actions">
          <button type="submit" className="button primary" disabled={enroll.isPending || name.trim() === '' || label.trim() === ''}>
            {enroll.isPending ? 'Enrolling…' : 'Enroll this device'}
          </button>
        </div>
      </form>
    </section>
  );
}

function defaultDeviceLabel(): string {
  const platform = navigator.platform.toLowerCase();
  return platform.includes('mac') ? 'Mac workstation' : platform.includes('win') ? 'Windows workstation' : 'Linux workstation';
}

export function DeviceCard({ enrolled, broker }: { readonly enrolled: SubscriberEnrollment; readonly broker: SubscriberIdentity['broker'] }) {
  const revoke = useRevokeDevice();
  const [confirming, setConfirming] = useState(false);
  const headingId = useId();
  return (
    <section className="card sub-device" aria-labelledby={headingId}>
      <div className="sub-card-head">
        <h2 id={headingId} className="card-title">
          This device
        </h2>
        <span className="sub-pill sub-pill-ok">
          <StatusDot tone="ok" /> Enrolled
        </span>
      </div>
      <p className="card-value">{enrolled.deviceLabel}</p>
      <dl className="facts small">
        <dt>Subscriber</dt>
        <dd>{enrolled.name}</dd>
        <dt>Device id</dt>
        <dd className="mono" title={enrolled.deviceId}>
          {shortId(enrolled.deviceId, 20)}
        </dd>
        <dt>Device key</dt>
        <dd>{enrolled.keyStore === 'keychain' ? 'OS keychain' : 'Encrypted key file'}</dd>
        <dt>Broker</dt>
        <dd>
          {broker.mode === 'embedded' ? 'Built-in broker' : broker.location} <span className="muted mono">({enrolled.brokerId})</span>
        </dd>
        <dt>Since</dt>
        <dd>{formatDate(enrolled.enrolledAt)}</dd>
      </dl>
      <div className="sub-device-foot">
        {confirming ? (
          <div className="sub-confirm" role="group" aria-label="Confirm revoking this device">
            <span className="small">Revoke this device? Its licences stop working here and its key is deleted.</span>
            <button type="button" className="button danger" onClick={() => revoke.mutate(enrolled.deviceId)} disabled={revoke.isPending}>
              {revoke.isPending ? 'Revoking…' : 'Revoke'}
            </button>
            <button type="button" className="button secondary" onClick={() => setConfirming(false)} disabled={revoke.isPending}>
              Keep
            </button>
          </div>
        ) : (
          <button type="button" className="button secondary" onClick={() => setConfirming(true)}>
            Revoke this device…
          </button>
        )}
        {revoke.isError ? (
          <p className="sub-error" role="alert">
            {revoke.error.message}
          </p>
        ) : null}
      </div>
    </section>
  );
}

export function RequestAccessCard({ licences }: { readonly licences: readonly LicenceRow[] }) {
  const subscribe = useSubscribe();
  const [modelId, setModelId] = useState('');
  const inputId = useId();
  const headingId = useId();
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    subscribe.mutate(modelId.trim(), { onSuccess: () => setModelId('') });
  };
  // The latest state of the requested subscription (it turns active once the publisher approves and a sync ran).
  const done = subscribe.data === undefined ? undefined : (licences.find((l) => l.subscriptionId === subscribe.data.subscriptionId) ?? subscribe.data);
  return (
    <section className="card sub-request" aria-labelledby={headingId}>
      <h2 id={headingId} className="card-title">
        Request access to a model
      </h2>
      <p className="small muted sub-request-lede">Enter the model id the publisher gave you. Open models are licensed at once; others wait for the publisher&apos;s approval.</p>
      <form className="sub-inline-form" onSubmit={submit}>
        <label htmlFor={inputId} className="visually-hidden">
          Model id
        </label>
        <input id={inputId} className="input mono" value={modelId} onChange={(e) => setModelId(e.target.value)} placeholder="Model id, e.g. acme-7b" maxLength={128} required spellCheck={false} autoComplete="off" />
        <button type="submit" className="button primary" disabled={subscribe.isPending || modelId.trim() === ''}>
          {subscribe.isPending ? 'Requesting…' : 'Request access'}
        </button>
      </form>
      <div aria-live="polite" className="small">
        {subscribe.isError ? (
          <p className="sub-error" role="alert">
            {subscribe.error.message}
          </p>
        ) : done === undefined ? null : (
          <p className="sub-note">
            <StatusDot tone={done.status === 'active' ? 'ok' : done.status === 'revoked' ? 'bad' : 'warn'} /> {done.modelId}: {done.status === 'active' ? 'licensed — import it below.' : done.status === 'revoked' ? 'revoked by the publisher.' : 'requested; waiting for the publisher to approve.'}
          </p>
        )}
      </div>
      <dl className="sub-how small">
        <dt>Offline</dt>
        <dd>A synced licence keeps working without the broker until it expires, plus its grace period.</dd>
        <dt>Revocation</dt>
        <dd>A publisher&apos;s revocation applies at your next sync.</dd>
        <dt>Your copy</dt>
        <dd>Keys are released per device and per licence: no other subscriber can open your copy.</dd>
      </dl>
    </section>
  );
}

/** Shown when the device key is (or goes) in the encrypted key file and this session has not unlocked it yet. */
export function KeyFileUnlock() {
  const unlock = useUnlockKeyFile();
  const [passphrase, setPassphrase] = useState('');
  const inputId = useId();
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    unlock.mutate(passphrase, { onSettled: () => setPassphrase('') });
  };
  return (
    <section className="card sub-unlock" aria-label="Unlock the key file" data-testid="key-file-unlock">
      <div>
        <p className="sub-unlock-title">
          <StatusDot tone="warn" /> The device key is kept in the encrypted key file
        </p>
        <p className="small muted">No OS keychain is available here. Enter the key file&apos;s passphrase to use it in this session (on first use, this sets it: at least 8 characters). It is never stored.</p>
      </div>
      <form className="sub-inline-form" onSubmit={submit}>
        <label htmlFor={inputId} className="visually-hidden">
          Key file passphrase
        </label>
        <input id={inputId} type="password" className="input" value={passphrase} onChange={(e) => setPassphrase(e.target.value)} placeholder="Key file passphrase" autoComplete="current-password" required />
        <button type="submit" className="button primary" disabled={unlock.isPending || passphrase === ''}>
          {unlock.isPending ? 'Unlocking…' : 'Unlock'}
        </button>
      </form>
      {unlock.isError ? (
        <p className="sub-error" role="alert">
          {unlock.error.message}
        </p>
      ) : null}
    </section>
  );
}
