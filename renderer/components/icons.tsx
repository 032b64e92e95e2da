export function ShieldIcon() {
  return (
    <svg className="icon-shield" viewBox="0 0 24 24" width="26" height="26" aria-hidden="true">
      <path d="M12 2.5l7.5 2.8v5.9c0 5.1-3.2 9.1-7.5 10.6-4.3-1.5-7.5-5.5-7.5-10.6V5.3z" fill="currentColor" opacity="0.18" />
      <path d="M12 2.5l7.5 2.8v5.9c0 5.1-3.2 9.1-7.5 10.6-4.3-1.5-7.5-5.5-7.5-10.6V5.3z" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinejoin="round" />
      <rect x="8.8" y="10.6" width="6.4" height="5" rx="1" fill="currentColor" />
      <path d="M10.2 10.6V9.3a1.8 1.8 0 0 1 3.6 0v1.3" fill="none" stroke="currentColor" strokeWidth="1.4" />
    </svg>
  );
}

export function StatusDot({ tone }: { readonly tone: 'ok' | 'warn' | 'bad' | 'idle' }) {
  return <span className={`dot dot-${tone}`} aria-hidden="true" />;
}
