/** The single source of randomness for the app: the platform CSPRNG (Web Crypto, available in Node 20 and browsers). */
import { BugError } from '../errors.ts';

interface CryptoLike {
  getRandomValues<T extends Uint8Array>(array: T): T;
}

const MAX_CHUNK = 65536; // getRandomValues refuses more than 64 KiB per call

export function randomBytes(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new BugError(`randomBytes: bad length ${String(length)}`);
  const c = (globalThis as { crypto?: CryptoLike }).crypto;
  if (c === undefined) throw new BugError('no CSPRNG (globalThis.crypto) in this runtime');
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += MAX_CHUNK) c.getRandomValues(out.subarray(i, Math.min(length, i + MAX_CHUNK)));
  return out;
}
