/**
 * JSON wire form for contract values over the web host's HTTP transport. JSON has no bytes, so a `Uint8Array`
 * travels as `{ "$bytes": "<base64>" }`; everything else is plain JSON. Electron IPC needs none of this (structured
 * clone carries Uint8Array as is).
 */
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX: Readonly<Record<string, number>> = Object.fromEntries([...B64].map((c, i) => [c, i]));

function bytesToB64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i] as number;
    const b = bytes[i + 1];
    const c = bytes[i + 2];
    const n = (a << 16) | ((b ?? 0) << 8) | (c ?? 0);
    out += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + (b === undefined ? '=' : B64[(n >> 6) & 63]!) + (c === undefined ? '=' : B64[n & 63]!);
  }
  return out;
}

function b64ToBytes(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new TypeError('base64 length is not a multiple of 4');
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const ch = text[i + j] as string;
      const v = ch === '=' && i + j >= text.length - pad ? 0 : B64_INDEX[ch];
      if (v === undefined) throw new TypeError('invalid base64 character');
      n = (n << 6) | v;
    }
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

export function toWire(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bytes: bytesToB64(value) };
  if (Array.isArray(value)) return value.map(toWire);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toWire(v);
    return out;
  }
  return value;
}

export function fromWire(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 1 && entries[0]?.[0] === '$bytes' && typeof entries[0][1] === 'string') return b64ToBytes(entries[0][1]);
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) out[k] = fromWire(v);
    return out;
  }
  return value;
}
