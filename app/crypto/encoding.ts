/**
 * Strict text encodings for key material at the edges of `app/keys` (STYLE §4: string forms live only at the
 * edges and carry an encoding suffix).
 *
 * - `b64std`: RFC 4648 §4 base64 with `+/` and required `=` padding, canonical only (no whitespace, no non-zero
 *   trailing bits). This is what the CryptoTensors reference uses for `k`, `x` and `d` (spec §3.2, R-B64).
 * - `b64url`: RFC 4648 §5 base64url, unpadded, canonical only. This is what RFC 7517/8037 JWKs use; we accept it on
 *   input only (spec W-12).
 *
 * Decoders return `undefined` on any malformed input so callers can raise their own error code with a message
 * that describes the shape of the problem, never its content.
 */

const STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function table(alphabet: string): Int16Array {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i++) t[alphabet.charCodeAt(i)] = i;
  return t;
}
const STD_T = table(STD);
const URL_T = table(URL);

function encode(bytes: Uint8Array, alphabet: string, pad: boolean): string {
  let out = '';
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out += alphabet[(n >>> 18) & 63]! + alphabet[(n >>> 12) & 63]! + alphabet[(n >>> 6) & 63]! + alphabet[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] as number) << 16;
    out += alphabet[(n >>> 18) & 63]! + alphabet[(n >>> 12) & 63]! + (pad ? '==' : '');
  } else if (rest === 2) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    out += alphabet[(n >>> 18) & 63]! + alphabet[(n >>> 12) & 63]! + alphabet[(n >>> 6) & 63]! + (pad ? '=' : '');
  }
  return out;
}

function decode(text: string, t: Int16Array, padded: boolean): Uint8Array | undefined {
  let body = text;
  if (padded) {
    if (text.length % 4 !== 0) return undefined;
    if (text.endsWith('==')) body = text.slice(0, -2);
    else if (text.endsWith('=')) body = text.slice(0, -1);
  } else if (text.length % 4 === 1) {
    return undefined;
  }
  const rem = body.length % 4;
  if (rem === 1) return undefined;
  const outLen = Math.floor(body.length / 4) * 3 + (rem === 0 ? 0 : rem - 1);
  const out = new Uint8Array(outLen);
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    const v = c < 128 ? (t[c] as number) : -1;
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  // Canonical form: the leftover bits must be zero.
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}

export function toB64std(bytes: Uint8Array): string {
  return encode(bytes, STD, true);
}

/** Strict canonical padded standard base64 (R-B64); `undefined` when malformed. `""` decodes to empty bytes. */
export function fromB64std(text: string): Uint8Array | undefined {
  return decode(text, STD_T, true);
}

export function toB64url(bytes: Uint8Array): string {
  return encode(bytes, URL, false);
}

/** Strict canonical unpadded base64url (RFC 7515 §2); `undefined` when malformed. */
export function fromB64url(text: string): Uint8Array | undefined {
  return decode(text, URL_T, false);
}

const HEX = '0123456789abcdef';

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX[b >>> 4]! + HEX[b & 15]!;
  return out;
}

/** Lowercase or uppercase hex, even length; `undefined` when malformed. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}
