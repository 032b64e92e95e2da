/** Small display helpers of the security view. */

/** `mvfp1:3f2a9c1b…` → `3f2a 9c1b 77e0 …` groups of four (the prefix is dropped, the full value stays in the title). */
export function shortFingerprint(fp: string, groups = 4): string {
  const hex = fp.replace(/^mvfp1:/, '');
  const parts = hex.match(/.{1,4}/g) ?? [];
  return parts.slice(0, groups).join(' ') + (parts.length > groups ? ' …' : '');
}

export function fullFingerprint(fp: string): string {
  const hex = fp.replace(/^mvfp1:/, '');
  return `mvfp1:${(hex.match(/.{1,4}/g) ?? []).join(' ')}`;
}

export function relativeTime(iso: string, now: number = Date.now()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '–';
  const s = Math.round((now - t) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  if (s < 30 * 86_400) return `${Math.round(s / 86_400)} d ago`;
  return new Date(t).toLocaleDateString();
}

export function dateTime(iso: string): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '–';
  const d = new Date(t);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export const ALG_LABEL: Readonly<Record<string, string>> = {
  aes256gcm: 'AES-256-GCM',
  aes128gcm: 'AES-128-GCM',
  chacha20poly1305: 'ChaCha20-Poly1305',
  ed25519: 'Ed25519',
};

export function algLabel(alg: string): string {
  return ALG_LABEL[alg] ?? alg;
}

export function parentOf(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i <= 0 ? path.slice(0, 1) || '/' : path.slice(0, i);
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : 'Something went wrong.';
}
