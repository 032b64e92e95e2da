/**
 * Sealing a secret to an X25519 public key (README §5): ephemeral X25519, HKDF-SHA256 with a per-purpose label,
 * ChaCha20-Poly1305 with a random nonce and canonical-JSON AAD binding the context.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { AppError } from '../errors.ts';
import { concatBytes, utf8, wipe } from '../crypto/bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { canonicalJson, type CanonicalValue } from '../keys/canonical-json.ts';
import { fromB64url, toB64url } from '../crypto/encoding.ts';

export const X25519_BYTES = 32;
export const SEAL_LABELS = Object.freeze({ publish: 'publish', keyRelease: 'key-release' } as const);
export type SealLabel = (typeof SEAL_LABELS)[keyof typeof SEAL_LABELS];
const INFO_PREFIX = 'model-vault/broker/v1/';
const MAX_SEALED_BYTES = 4096;

export interface Sealed {
  readonly ephPubB64u: string;
  readonly nonceB64u: string;
  readonly ciphertextB64u: string;
}

export type SealAad = { readonly [key: string]: CanonicalValue };

/** The X25519 operations, injectable so the server can use node:crypto (same RFC 7748 function, much faster). */
export interface X25519Port {
  /** A fresh ephemeral key (platform CSPRNG) agreed with `recipientPub`; the ephemeral secret never leaves the port. */
  ephemeralAgree(recipientPub: Uint8Array): { readonly ephPub: Uint8Array; readonly shared: Uint8Array };
}

export const nobleX25519: X25519Port = Object.freeze({
  ephemeralAgree(recipientPub: Uint8Array): { ephPub: Uint8Array; shared: Uint8Array } {
    const secretKey = randomBytes(X25519_BYTES);
    try {
      return { ephPub: x25519.getPublicKey(secretKey), shared: x25519.getSharedSecret(secretKey, recipientPub) };
    } finally {
      wipe(secretKey);
    }
  },
});

export interface BoxKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

export function generateBoxKeyPair(): BoxKeyPair {
  const secretKey = randomBytes(X25519_BYTES);
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}

export function boxPublicKey(secretKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(secretKey);
}

function checkKey(key: unknown, what: string): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== X25519_BYTES) throw new AppError('KEY_INVALID', `${what} must be a ${X25519_BYTES}-byte X25519 key.`);
}

function derive(shared: Uint8Array, ephPub: Uint8Array, recipientPub: Uint8Array, label: SealLabel): Uint8Array {
  if (shared.every((b) => b === 0)) throw new AppError('KEY_INVALID', 'The X25519 key is of low order: enroll the device again with a fresh key.');
  return hkdf(sha256, shared, concatBytes(ephPub, recipientPub), utf8(INFO_PREFIX + label), 32);
}

export function seal(recipientPub: Uint8Array, plaintext: Uint8Array, label: SealLabel, aad: SealAad, port: X25519Port = nobleX25519): Sealed {
  checkKey(recipientPub, 'Recipient key');
  if (!(plaintext instanceof Uint8Array) || plaintext.length > MAX_SEALED_BYTES) throw new AppError('VALIDATION', `A sealed secret must be at most ${MAX_SEALED_BYTES} bytes.`);
  let shared: Uint8Array | undefined;
  let key: Uint8Array | undefined;
  try {
    let agreed: { readonly ephPub: Uint8Array; readonly shared: Uint8Array };
    try {
      agreed = port.ephemeralAgree(recipientPub);
    } catch {
      throw new AppError('KEY_INVALID', 'The X25519 key is invalid or of low order: enroll the device again with a fresh key.');
    }
    const ephPub = agreed.ephPub;
    shared = agreed.shared;
    key = derive(shared, ephPub, recipientPub, label);
    const nonce = randomBytes(12);
    const ct = chacha20poly1305(key, nonce, utf8(canonicalJson(aad))).encrypt(plaintext);
    return { ephPubB64u: toB64url(ephPub), nonceB64u: toB64url(nonce), ciphertextB64u: toB64url(ct) };
  } finally {
    wipe(shared, key);
  }
}

const OPEN_FAILED = 'Could not open the sealed key: it was sealed for another device or context, or it was modified. Request it again.';

export function openSealed(recipient: BoxKeyPair, sealed: Sealed, label: SealLabel, aad: SealAad): Uint8Array {
  checkKey(recipient.secretKey, 'Recipient secret key');
  const ephPub = fromB64url(sealed.ephPubB64u);
  const nonce = fromB64url(sealed.nonceB64u);
  const ct = fromB64url(sealed.ciphertextB64u);
  if (ephPub?.length !== X25519_BYTES || nonce?.length !== 12 || ct === undefined || ct.length < 16 || ct.length > MAX_SEALED_BYTES + 16) throw new AppError('DECRYPT_FAILED', OPEN_FAILED);
  let shared: Uint8Array | undefined;
  let key: Uint8Array | undefined;
  try {
    shared = x25519.getSharedSecret(recipient.secretKey, ephPub);
    key = derive(shared, ephPub, recipient.publicKey, label);
    return chacha20poly1305(key, nonce, utf8(canonicalJson(aad))).decrypt(ct);
  } catch {
    throw new AppError('DECRYPT_FAILED', OPEN_FAILED);
  } finally {
    wipe(shared, key);
  }
}
