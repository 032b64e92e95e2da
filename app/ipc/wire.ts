/**
 * JSON wire form for contract values over the web host's HTTP transport. JSON has no bytes, so a `Uint8Array`
 * travels as `{ "$bytes": "<base64>" }`; everything else is plain JSON. Electron IPC needs none of this (structured
 * clone carries Uint8Array as is).
 */
import { fromB64std, toB64std } from '../crypto/encoding.ts';

function b64ToBytes(text: string): Uint8Array {
  const bytes = fromB64std(text);
  if (bytes === undefined) throw new TypeError('invalid base64 in a $bytes value');
  return bytes;
}

export function toWire(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bytes: toB64std(value) };
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
