import { type FormEvent, useState } from 'react';
import type { EnvironmentKeys, KeyLocation, KeyRow, KeyStoreState } from '../../../app/ipc/ops/security.ts';
import { useCreateKey, useKeyInventory, useKeysetAction, useUnlockKeystore } from '../../queries/security.ts';
import { algLabel, dateTime, errorText, fullFingerprint, relativeTime, shortFingerprint } from './format.ts';

const STATE_TONE: Readonly<Record<string, string>> = { active: 'ok', staged: 'info', previous: 'warn', retired: 'idle' };

function StoreChip({ s }: { readonly s: KeyStoreState }) {
  const tone = !s.available ? 'bad' : s.kind === 'file' && !s.exists ? 'idle' : s.kind === 'file' && s.locked ? 'warn' : 'ok';
  const state = !s.available ? 'Unavailable' : s.kind === 'file' ? (!s.exists ? 'Not set up' : s.locked ? 'Locked' : 'Unlocked') : 'Available';
  return (
    <div className="sec-store" data-testid={`store-${s.kind}`}>
      <span className={`dot dot-${tone}`} aria-hidden="true" />
      <div className="sec-store-text">
        <strong>{s.kind === 'keychain' ? 'OS keychain' : 'File keystore'}</strong>
        <span className="muted small">
          {state} · <span className="mono">{s.location}</span>
        </span>
        {s.reason === undefined ? null : <span className="muted small">{s.reason}</span>}
      </div>
    </div>
  );
}

/** A variable that supplies keys to this process (key sources 4 and 5): shown beside the stores. */
function EnvironmentChip({ e }: { readonly e: EnvironmentKeys }) {
  return (
    <div className="sec-store" data-testid={`env-${e.variable}`}>
      <span className={`dot dot-${e.problem === undefined ? 'ok' : 'bad'}`} aria-hidden="true" />
      <div className="sec-store-text">
        <strong>Environment</strong>
        <span className="muted small">
          {e.problem === undefined ? `${e.keys} key${e.keys === 1 ? '' : 's'}` : 'Unreadable'} · <span className="mono">{e.location === e.variable ? e.variable : `${e.variable} → ${e.location}`}</span>
        </span>
        {e.problem === undefined ? null : <span className="muted small">{e.problem}</span>}
      </div>
    </div>
  );
}

const LOCATION_LABEL: Readonly<Record<KeyLocation, string>> = { keychain: 'OS keychain', file: 'File keystore', environment: 'Environment' };

function UnlockForm({ create }: { readonly create: boolean }) {
  const unlock = useUnlockKeystore();
  const [passphrase, setPassphrase] = useState('');
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    unlock.mutate({ passphrase }, { onSuccess: () => setPassphrase('') });
  };
  return (
    <form className="sec-inline-form" onSubmit={submit}>
      <label htmlFor="sec-passphrase">{create ? 'New keystore passphrase' : 'Keystore passphrase'}</label>
      <input id="sec-passphrase" type="password" autoComplete={create ? 'new-password' : 'current-password'} value={passphrase} onChange={(e) => setPassphrase(e.target.value)} />
      <button type="submit" className="button secondary" disabled={passphrase === '' || unlock.isPending}>
        {unlock.isPending ? 'Working…' : create ? 'Create keystore' : 'Unlock'}
      </button>
      {unlock.isError ? (
        <span className="sec-error" role="alert">
          {errorText(unlock.error)}
        </span>
      ) : null}
    </form>
  );
}

function NewKeyForm({ stores, onDone }: { readonly stores: readonly KeyStoreState[]; readonly onDone: () => void }) {
  const create = useCreateKey();
  const keychain = stores.find((s) => s.kind === 'keychain');
  const [alg, setAlg] = useState<'aes256gcm' | 'aes128gcm' | 'chacha20poly1305' | 'ed25519'>('aes256gcm');
  const [kid, setKid] = useState('');
  const [label, setLabel] = useState('');
  const [store, setStore] = useState<'keychain' | 'file'>(keychain?.available === true ? 'keychain' : 'file');
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    create.mutate({ alg, store, ...(kid.trim() === '' ? {} : { kid: kid.trim() }), ...(label.trim() === '' ? {} : { label: label.trim() }) }, { onSuccess: onDone });
  };
  return (
    <form className="sec-new-key card" onSubmit={submit} aria-label="New key">
      <div className="sec-field">
        <label htmlFor="sec-new-alg">Type</label>
        <select id="sec-new-alg" value={alg} onChange={(e) => setAlg(e.target.value as typeof alg)}>
          <option value="aes256gcm">Master key · AES-256-GCM</option>
          <option value="aes128gcm">Master key · AES-128-GCM</option>
          <option value="chacha20poly1305">Master key · ChaCha20-Poly1305</option>
          <option value="ed25519">Signing key · Ed25519</option>
        </select>
      </div>
      <div className="sec-field">
        <label htmlFor="sec-new-kid">Key id (optional)</label>
        <input id="sec-new-kid" className="mono" placeholder="generated, e.g. mv-enc-20261121-3f2a9c1b" value={kid} onChange={(e) => setKid(e.target.value)} />
      </div>
      <div className="sec-field">
        <label htmlFor="sec-new-label">Label (optional)</label>
        <input id="sec-new-label" placeholder="e.g. Llama weights 2026" value={label} onChange={(e) => setLabel(e.target.value)} />
      </div>
      <div className="sec-field">
        <label htmlFor="sec-new-store">Store in</label>
        <select id="sec-new-store" value={store} onChange={(e) => setStore(e.target.value as typeof store)}>
          <option value="keychain" disabled={keychain?.available !== true}>
            OS keychain
          </option>
          <option value="file">Encrypted file keystore</option>
        </select>
      </div>
      <div className="sec-new-actions">
        <button type="submit" className="button primary" disabled={create.isPending}>
          {create.isPending ? 'Creating…' : 'Create key'}
        </button>
        <button type="button" className="button secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
      {create.isError ? (
        <p className="sec-error" role="alert">
          {errorText(create.error)}
        </p>
      ) : null}
    </form>
  );
}

function KeysetCell({ k }: { readonly k: KeyRow }) {
  const action = useKeysetAction();
  const m = k.keysets[0];
  // Only a stored key can join a keyset (the keyset records where to load it from); an environment key cannot.
  const canStage = m === undefined && !k.verifyOnly && k.store !== 'environment';
  return (
    <div className="sec-keyset">
      {k.keysets.length === 0 ? <span className="muted small">Not in a keyset</span> : null}
      {k.keysets.map((x) => (
        <span key={`${x.owner}-${x.purpose}`} className={`sec-pill sec-pill-cap sec-pill-${STATE_TONE[x.state] ?? 'idle'}`} title={`${x.purpose === 'enc' ? 'Master' : 'Signing'} keyset of ${x.owner}`}>
          {x.state}
        </span>
      ))}
      <div className="sec-row-actions">
        {canStage ? (
          <button type="button" className="button link" onClick={() => action.mutate({ kid: k.kid, action: 'stage' })} disabled={action.isPending} aria-label={`Stage ${k.kid}`}>
            Stage
          </button>
        ) : null}
        {m?.state === 'staged' ? (
          <button type="button" className="button link" onClick={() => action.mutate({ kid: k.kid, action: 'promote', owner: m.owner })} disabled={action.isPending} aria-label={`Promote ${k.kid}`}>
            Promote
          </button>
        ) : null}
        {m?.state === 'previous' || m?.state === 'staged' ? (
          <button type="button" className="button link danger" onClick={() => action.mutate({ kid: k.kid, action: 'retire', owner: m.owner })} disabled={action.isPending} aria-label={`Retire ${k.kid}`}>
            Retire
          </button>
        ) : null}
      </div>
      {action.isError ? (
        <span className="sec-error small" role="alert">
          {errorText(action.error)}
        </span>
      ) : null}
    </div>
  );
}

export function KeyInventory() {
  const inv = useKeyInventory();
  const [creating, setCreating] = useState(false);
  const [setUpFile, setSetUpFile] = useState(false);
  if (inv.isPending) {
    return (
      <p className="muted" role="status">
        Reading the key stores…
      </p>
    );
  }
  if (inv.isError) {
    return (
      <div className="alert alert-bad" role="alert">
        <strong>Could not read the keys.</strong> {errorText(inv.error)}
      </div>
    );
  }
  const { stores, environment, keys, orphans } = inv.data;
  const file = stores.find((s) => s.kind === 'file');
  return (
    <section aria-labelledby="sec-keys-title" className="sec-section">
      <div className="sec-section-head">
        <div>
          <h2 id="sec-keys-title">Key inventory</h2>
          <p className="muted small">Keys are shown by id and fingerprint only: key bytes never leave the key store.</p>
        </div>
        <button type="button" className="button primary" onClick={() => setCreating((c) => !c)} aria-expanded={creating}>
          New key
        </button>
      </div>
      <div className="sec-stores">
        {stores.map((s) => (
          <StoreChip key={s.kind} s={s} />
        ))}
        {environment.map((e) => (
          <EnvironmentChip key={e.variable} e={e} />
        ))}
        {file?.locked === true ? <UnlockForm create={false} /> : null}
        {file?.exists === false ? (
          setUpFile ? (
            <UnlockForm create />
          ) : (
            <button type="button" className="button link" onClick={() => setSetUpFile(true)}>
              Set up a file keystore
            </button>
          )
        ) : null}
      </div>
      {creating ? <NewKeyForm stores={stores} onDone={() => setCreating(false)} /> : null}
      {keys.length === 0 ? (
        <div className="sec-empty card">
          <strong>No keys yet.</strong>
          <p className="muted">Create a master key to encrypt models and a signing key to sign them, or import existing keys with “model-vault keys import”.</p>
        </div>
      ) : (
        <div className="sec-table-wrap card">
          <table className="sec-table" data-testid="key-table">
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Algorithm</th>
                <th scope="col">Fingerprint</th>
                <th scope="col">Stored in</th>
                <th scope="col">Keyset</th>
                <th scope="col">Last used</th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <tr key={`${k.store}-${k.kid}-${k.fingerprint}`} data-kid={k.kid} data-store={k.store}>
                  <td>
                    <div className="sec-kid mono">{k.kid}</div>
                    <div className="muted small">
                      {k.kind === 'master' ? 'Master key' : k.verifyOnly ? 'Signing key (public only)' : 'Signing key'}
                      {k.label === undefined ? '' : ` · ${k.label}`}
                    </div>
                  </td>
                  <td className="sec-nowrap">{algLabel(k.alg)}</td>
                  <td className="sec-nowrap">
                    <span className="mono" title={fullFingerprint(k.fingerprint)}>
                      {shortFingerprint(k.fingerprint, 3)}
                    </span>
                  </td>
                  <td className="sec-nowrap">
                    {LOCATION_LABEL[k.store]}
                    {k.variable === undefined ? null : <span className="muted small sec-block mono">{k.variable}</span>}
                  </td>
                  <td>
                    <KeysetCell k={k} />
                  </td>
                  <td>
                    {k.lastUsed === undefined ? (
                      <span className="muted">Never</span>
                    ) : (
                      <span title={dateTime(k.lastUsed.time)}>
                        {relativeTime(k.lastUsed.time)}
                        <span className="muted small sec-block mono">{k.lastUsed.action}</span>
                      </span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {orphans.length === 0 ? null : (
        <p className="muted small">
          In a keyset but in no reachable store: {orphans.map((o) => `${o.kid} (${o.state})`).join(', ')}. Unlock the file keystore or import them.
        </p>
      )}
    </section>
  );
}
