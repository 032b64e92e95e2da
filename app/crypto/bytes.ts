/** Byte helpers for `app/`: constant-time comparison, concatenation, wiping. */

/** Constant-time equality for tags, MACs, tokens and key ids. Length is not secret. */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Best-effort zeroization of a temporary secret. */
export function wipe(...buffers: readonly (Uint8Array | undefined)[]): void {
  for (const b of buffers) b?.fill(0);
}

const UTF8_ENCODER = new TextEncoder();
const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return UTF8_ENCODER.encode(text);
}

/** Strict UTF-8 decode: invalid sequences throw a TypeError, which callers map to their own error code. */
export function fromUtf8(bytes: Uint8Array): string {
  return UTF8_DECODER.decode(bytes);
}
