/** SHA-256 over the pinned @noble/hashes: one-shot and incremental. */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { AppError } from '../errors.ts';

export const SHA256_BYTES = 32;

export function sha256(data: Uint8Array): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new AppError('VALIDATION', 'sha256 input must be a Uint8Array.');
  return nobleSha256(data);
}

export interface Sha256Hasher {
  update(data: Uint8Array): Sha256Hasher;
  digest(): Uint8Array;
}

export function createSha256(): Sha256Hasher {
  const h = nobleSha256.create();
  const hasher: Sha256Hasher = {
    update(data: Uint8Array): Sha256Hasher {
      if (!(data instanceof Uint8Array)) throw new AppError('VALIDATION', 'sha256 input must be a Uint8Array.');
      h.update(data);
      return hasher;
    },
    digest: (): Uint8Array => h.digest(),
  };
  return hasher;
}

/** Lowercase hex, for digests and fingerprints only (never keys): the one implementation in encoding.ts. */
export { toHex } from './encoding.ts';

/** Strict lowercase hex (digests are canonical lowercase); `undefined` when malformed. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-f]*$/.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}
