/** Small display helpers of the subscriber view. */
import type { LicenceVerdict } from '../../../app/ipc/ops/subscriber.ts';

const DATE = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
const DATE_TIME = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

export function formatDate(ms: number | string): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? '–' : DATE.format(d);
}

export function formatDateTime(ms: number | string): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? '–' : DATE_TIME.format(d);
}

/** "in 29 days", "in 5 hours", "3 days ago". */
export function relativeTo(ms: number, now = Date.now()): string {
  const diff = ms - now;
  const abs = Math.abs(diff);
  const day = 86_400_000;
  const text = abs >= 2 * day ? `${Math.round(abs / day)} days` : abs >= 2 * 3_600_000 ? `${Math.round(abs / 3_600_000)} hours` : `${Math.max(1, Math.round(abs / 60_000))} minutes`;
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}

/** A device id shortened for tables: `dev_3f2a9c1b…`. */
export function shortId(id: string, keep = 12): string {
  return id.length <= keep + 1 ? id : `${id.slice(0, keep)}…`;
}

export const VERDICT_TEXT: Readonly<Record<LicenceVerdict, { readonly label: string; readonly tone: 'ok' | 'warn' | 'bad' | 'idle' }>> = {
  valid: { label: 'Valid', tone: 'ok' },
  grace: { label: 'In grace period', tone: 'warn' },
  expired: { label: 'Expired', tone: 'bad' },
  revoked: { label: 'Revoked', tone: 'bad' },
  'not-this-device': { label: 'Not for this device', tone: 'bad' },
  invalid: { label: 'Invalid', tone: 'bad' },
  none: { label: 'No licence yet', tone: 'idle' },
};
