import { type KeyboardEvent, useRef, useState } from 'react';
import { AuditViewer } from '../components/security/audit-viewer.tsx';
import { KeyInventory } from '../components/security/key-inventory.tsx';
import { RotationWizard } from '../components/security/rotation-wizard.tsx';
import { useAppStatus } from '../queries/status.ts';
import '../components/security/security.css';

const TABS = [
  { id: 'keys', label: 'Keys' },
  { id: 'rotate', label: 'Rotate keys' },
  { id: 'audit', label: 'Audit log' },
] as const;
type Tab = (typeof TABS)[number]['id'];

/** The security view (issue 7 item 4): key inventory, the offline rotation wizard, the audit log with its verification. */
export function SecurityScreen() {
  const status = useAppStatus();
  const [tab, setTab] = useState<Tab>('keys');
  const refs = useRef<Partial<Record<Tab, HTMLButtonElement | null>>>({});
  const onKey = (e: KeyboardEvent): void => {
    const i = TABS.findIndex((t) => t.id === tab);
    const next = e.key === 'ArrowRight' ? (i + 1) % TABS.length : e.key === 'ArrowLeft' ? (i + TABS.length - 1) % TABS.length : -1;
    if (next < 0) return;
    e.preventDefault();
    const id = (TABS[next] as (typeof TABS)[number]).id;
    setTab(id);
    refs.current[id]?.focus();
  };
  return (
    <div className="page page-wide sec-page">
      <header className="page-header">
        <div>
          <h1>Keys &amp; audit</h1>
          <p className="lede">Your keys by id and fingerprint, offline rotation of every model in a folder, and the tamper-evident record of every sensitive act.</p>
        </div>
      </header>
      <div className="sec-tabs" role="tablist" aria-label="Security" onKeyDown={onKey}>
        {TABS.map((t) => (
          <button
            key={t.id}
            ref={(el) => {
              refs.current[t.id] = el;
            }}
            type="button"
            role="tab"
            id={`sec-tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`sec-panel-${t.id}`}
            tabIndex={tab === t.id ? 0 : -1}
            className={`sec-tab${tab === t.id ? ' active' : ''}`}
            onClick={() => setTab(t.id)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`sec-panel-${tab}`} aria-labelledby={`sec-tab-${tab}`} className="sec-panel">
        {tab === 'keys' ? <KeyInventory /> : tab === 'rotate' ? <RotationWizard host={status.data?.host} /> : <AuditViewer />}
      </div>
    </div>
  );
}
