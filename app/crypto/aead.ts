/**
 * AEAD wrappers over the pinned @noble/ciphers: AES-128/256-GCM and ChaCha20-Poly1305 (RFC 8439), 12-byte nonces,
 * 16-byte detached tags. One cipher instance per message. `open` authenticates before releasing any plaintext and
 * fails with one generic DECRYPT_FAILED message.
 *
 * The `AeadBackend` interface is the seam for the bulk backend in `app/node/` (node:crypto); tests check both produce
 * identical bytes.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { AppError } from '../errors.ts';
import { concatBytes } from './bytes.ts';

export const AEAD_ALGS = ['aes128gcm', 'aes256gcm', 'chacha20poly1305'] as const;
export type AeadAlg = (typeof AEAD_ALGS)[number];

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

const KEY_BYTES_BY_ALG: Readonly<Record<AeadAlg, number>> = Object.freeze({ aes128gcm: 16, aes256gcm: 32, chacha20poly1305: 32 });

export function aeadKeyBytes(alg: AeadAlg): number {
  return KEY_BYTES_BY_ALG[alg];
}

/** Normalizes an algorithm spelling the CryptoTensors way (delete `-`, lowercase); undefined if unknown. */
export function normalizeAeadAlg(spelling: string): AeadAlg | undefined {
  const s = spelling.replaceAll('-', '').toLowerCase();
  return (AEAD_ALGS as readonly string[]).includes(s) ? (s as AeadAlg) : undefined;
}

export function isAeadAlg(value: unknown): value is AeadAlg {
  return typeof value === 'string' && (AEAD_ALGS as readonly string[]).includes(value);
}

export interface Sealed {
  readonly ciphertext: Uint8Array;
  readonly tag: Uint8Array;
}

export interface AeadBackend {
  readonly name: string;
  /** Encrypts with empty AAD; ciphertext has the plaintext's length, the tag is detached. */
  seal(alg: AeadAlg, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Sealed;
  /** Authenticates and decrypts with empty AAD; throws AppError DECRYPT_FAILED on any failure. */
  open(alg: AeadAlg, key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Uint8Array;
}

/** The one message for every decryption failure (never which check failed). */
export const DECRYPT_FAILED_MESSAGE = 'Decryption failed: the data or key is wrong or the file was modified. Check the key and obtain a fresh copy of the file.';

export function decryptFailed(): AppError {
  return new AppError('DECRYPT_FAILED', DECRYPT_FAILED_MESSAGE);
}

export function checkAeadArgs(alg: AeadAlg, key: Uint8Array, nonce: Uint8Array): void {
  if (!isAeadAlg(alg)) throw new AppError('KEY_ALG_MISMATCH', 'Unsupported AEAD algorithm.');
  if (!(key instanceof Uint8Array)) throw new AppError('KEY_INVALID', 'Key must be a Uint8Array.');
  if (key.length !== KEY_BYTES_BY_ALG[alg]) throw new AppError('KEY_INVALID', `Key for ${alg} must be ${KEY_BYTES_BY_ALG[alg]} bytes, got ${key.length}.`);
  if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) throw new AppError('CRYPTO_METADATA_INVALID', `Nonce must be ${NONCE_BYTES} bytes.`);
}

function nobleCipher(alg: AeadAlg, key: Uint8Array, nonce: Uint8Array): { encrypt(p: Uint8Array): Uint8Array; decrypt(c: Uint8Array): Uint8Array } {
  return alg === 'chacha20poly1305' ? chacha20poly1305(key, nonce) : gcm(key, nonce);
}

export const nobleAead: AeadBackend = Object.freeze({
  name: 'noble',
  seal(alg: AeadAlg, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Sealed {
    checkAeadArgs(alg, key, nonce);
    if (!(plaintext instanceof Uint8Array)) throw new AppError('VALIDATION', 'Plaintext must be a Uint8Array.');
    const out = nobleCipher(alg, key, nonce).encrypt(plaintext);
    return { ciphertext: out.subarray(0, out.length - TAG_BYTES), tag: out.slice(out.length - TAG_BYTES) };
  },
  open(alg: AeadAlg, key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Uint8Array {
    checkAeadArgs(alg, key, nonce);
    if (!(ciphertext instanceof Uint8Array) || !(tag instanceof Uint8Array) || tag.length !== TAG_BYTES) throw decryptFailed();
    try {
      return nobleCipher(alg, key, nonce).decrypt(concatBytes(ciphertext, tag));
    } catch {
      throw decryptFailed();
    }
  },
});
