import { useId, useMemo, useState } from 'react';
import type { EncryptChoice, MasterAlgName, ScanSummary } from '../../../app/ipc/ops/producer.ts';
import { formatBytes } from '../../lib/task.ts';

export interface EncryptSettings {
  readonly choice: EncryptChoice;
  readonly alg: MasterAlgName;
  readonly version: 1 | 2;
}

const ALGS: readonly { value: MasterAlgName; label: string }[] = [
  { value: 'aes256gcm', label: 'AES-256-GCM (recommended)' },
  { value: 'chacha20poly1305', label: 'ChaCha20-Poly1305' },
  { value: 'aes128gcm', label: 'AES-128-GCM' },
];

/** Which tensors a choice encrypts; undefined when a pattern does not compile. */
export function selectedNames(scan: ScanSummary, choice: EncryptChoice): ReadonlySet<string> | undefined {
  switch (choice.mode) {
    case 'all':
      return new Set(scan.tensors.map((t) => t.name));
    case 'list':
      return new Set(choice.names);
    case 'pattern':
      try {
        const re = new RegExp(choice.pattern, 'u');
        return new Set(scan.tensors.filter((t) => re.test(t.name)).map((t) => t.name));
      } catch {
        return undefined;
      }
  }
}

/** Why the choice cannot be packaged (every shard needs an encrypted tensor to be signed), or undefined. */
export function selectionProblem(scan: ScanSummary, choice: EncryptChoice): string | undefined {
  const names = selectedNames(scan, choice);
  if (names === undefined) return 'The pattern is not a valid regular expression.';
  if (names.size === 0) return 'No tensor is selected: choose at least one in every shard.';
  const bare = [...new Set(scan.tensors.map((t) => t.shard))].filter((s) => !scan.tensors.some((t) => t.shard === s && names.has(t.name)));
  if (bare.length > 0) return `Every shard needs at least one encrypted tensor (its signature covers it). Nothing is selected in ${bare.join(', ')}.`;
  return undefined;
}

export function EncryptStep({ scan, settings, onChange }: { readonly scan: ScanSummary; readonly settings: EncryptSettings; readonly onChange: (s: EncryptSettings) => void }) {
  const ids = { mode: useId(), pattern: useId(), alg: useId(), version: useId(), filter: useId(), problem: useId() };
  const [pattern, setPattern] = useState(settings.choice.mode === 'pattern' ? settings.choice.pattern : '(embed|lm_head|attn)');
  const [filter, setFilter] = useState('');
  const names = useMemo(() => selectedNames(scan, settings.choice), [scan, settings.choice]);
  const problem = selectionProblem(scan, settings.choice);
  const picked = settings.choice.mode === 'list' ? new Set(settings.choice.names) : (names ?? new Set<string>());
  const shown = scan.tensors.filter((t) => filter === '' || t.name.toLowerCase().includes(filter.toLowerCase()));
  const encryptedBytes = scan.tensors.filter((t) => names?.has(t.name) === true).reduce((a, t) => a + t.bytes, 0);

  const setChoice = (choice: EncryptChoice): void => onChange({ ...settings, choice });
  const toggle = (name: string): void => {
    const next = new Set(picked);
    if (next.has(name)) next.delete(name);
    else next.add(name);
    setChoice({ mode: 'list', names: scan.tensors.map((t) => t.name).filter((n) => next.has(n)) });
  };

  return (
    <div className="pv-step-body pv-encrypt">
      <div className="pv-encrypt-side">
        <fieldset className="pv-fieldset">
          <legend>Encrypt</legend>
          {(
            [
              { mode: 'all', label: 'Every tensor', hint: 'The safest choice.' },
              { mode: 'pattern', label: 'Tensors whose name matches', hint: 'A regular expression.' },
              { mode: 'list', label: 'Tensors I pick', hint: 'Tick them in the list.' },
            ] as const
          ).map((o) => (
            <label key={o.mode} className="pv-radio">
              <input
                type="radio"
                name={ids.mode}
                value={o.mode}
                checked={settings.choice.mode === o.mode}
                onChange={() => setChoice(o.mode === 'all' ? { mode: 'all' } : o.mode === 'pattern' ? { mode: 'pattern', pattern } : { mode: 'list', names: [...(names ?? [])] })}
              />
              <span>
                {o.label}
                <span className="muted small"> — {o.hint}</span>
              </span>
            </label>
          ))}
          {settings.choice.mode === 'pattern' ? (
            <div className="pv-field">
              <label htmlFor={ids.pattern}>Name pattern</label>
              <input
                id={ids.pattern}
                className="pv-input mono"
                value={pattern}
                spellCheck={false}
                onChange={(e) => {
                  setPattern(e.target.value);
                  setChoice({ mode: 'pattern', pattern: e.target.value === '' ? '.' : e.target.value });
                }}
                aria-describedby={problem === undefined ? undefined : ids.problem}
              />
            </div>
          ) : null}
        </fieldset>
        <div className="pv-field">
          <label htmlFor={ids.alg}>Algorithm</label>
          <select id={ids.alg} value={settings.alg} onChange={(e) => onChange({ ...settings, alg: e.target.value as MasterAlgName })}>
            {ALGS.map((a) => (
              <option key={a.value} value={a.value}>
                {a.label}
              </option>
            ))}
          </select>
        </div>
        <div className="pv-field">
          <label htmlFor={ids.version}>Format version</label>
          <select id={ids.version} value={settings.version} onChange={(e) => onChange({ ...settings, version: e.target.value === '1' ? 1 : 2 })}>
            <option value={2}>v2 — chunked, parallel (recommended)</option>
            <option value={1}>v1 — for readers older than cryptotensors 0.2.3</option>
          </select>
        </div>
        <p className="pv-selection-summary" aria-live="polite" data-testid="selection-summary">
          <strong>{names?.size ?? 0}</strong> of {scan.tensors.length} tensors encrypted ({formatBytes(encryptedBytes)}); the others get signed SHA-256 digests.
        </p>
        {problem === undefined ? null : (
          <p id={ids.problem} className="field-error pv-inline-error" role="alert">
            {problem}
          </p>
        )}
      </div>
      <div className="pv-tensors">
        <div className="pv-tensors-head">
          <label htmlFor={ids.filter} className="visually-hidden">
            Filter tensors by name
          </label>
          <input id={ids.filter} className="pv-input" type="search" placeholder="Filter tensors…" value={filter} onChange={(e) => setFilter(e.target.value)} />
          <span className="muted small">{shown.length} shown</span>
        </div>
        <div className="pv-tensor-scroll" tabIndex={-1}>
          <table className="pv-table">
            <caption className="visually-hidden">Tensors of the model; tick the ones to encrypt</caption>
            <thead>
              <tr>
                <th scope="col">Encrypt</th>
                <th scope="col">Tensor</th>
                <th scope="col">dtype</th>
                <th scope="col">Shape</th>
                <th scope="col" className="num">
                  Size
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((t) => (
                <tr key={t.name} className={picked.has(t.name) ? 'pv-row-on' : undefined}>
                  <td>
                    <input type="checkbox" checked={picked.has(t.name)} onChange={() => toggle(t.name)} aria-label={`Encrypt ${t.name}`} />
                  </td>
                  <td className="mono pv-name">{t.name}</td>
                  <td className="mono">{t.dtype}</td>
                  <td className="mono">[{t.shape.join(', ')}]</td>
                  <td className="num">{formatBytes(t.bytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </div>
  );
}
