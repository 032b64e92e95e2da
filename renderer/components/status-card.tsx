import type { ReactNode } from 'react';
import { StatusDot } from './icons.tsx';

export interface StatusCardProps {
  readonly title: string;
  readonly tone: 'ok' | 'warn' | 'bad' | 'idle';
  readonly value: string;
  readonly detail?: ReactNode;
  readonly testId: string;
}

export function StatusCard({ title, tone, value, detail, testId }: StatusCardProps) {
  return (
    <section className="card" aria-labelledby={`${testId}-title`} data-testid={testId}>
      <h2 id={`${testId}-title`} className="card-title">
        {title}
      </h2>
      <p className="card-value">
        <StatusDot tone={tone} />
        <span>{value}</span>
      </p>
      {detail === undefined ? null : <div className="card-detail">{detail}</div>}
    </section>
  );
}
