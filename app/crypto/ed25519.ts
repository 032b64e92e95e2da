/**
 * Ed25519 over the pinned @noble/curves, with strict RFC 8032 verification (`zip215: false`, as ring does in the
 * reference), pure mode (no prehash, no context). Secret keys are 32-byte seeds.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { AppError } from '../errors.ts';

export const ED25519_SEED_BYTES = 32;
export const ED25519_PUBLIC_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

function checkBytes(value: unknown, length: number, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new AppError('KEY_INVALID', `${what} must be a Uint8Array.`);
  if (value.length !== length) throw new AppError('KEY_INVALID', `${what} must be ${length} bytes, got ${value.length}.`);
}

export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  checkBytes(seed, ED25519_SEED_BYTES, 'Ed25519 seed');
  return ed25519.getPublicKey(seed);
}

export function ed25519Sign(message: Uint8Array, seed: Uint8Array): Uint8Array {
  checkBytes(seed, ED25519_SEED_BYTES, 'Ed25519 seed');
  if (!(message instanceof Uint8Array)) throw new AppError('VALIDATION', 'Message must be a Uint8Array.');
  return ed25519.sign(message, seed);
}

/** Strict verification; returns false (never throws) for any malformed input, so callers give one generic error. */
export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || !(message instanceof Uint8Array) || !(publicKey instanceof Uint8Array)) return false;
  if (signature.length !== ED25519_SIGNATURE_BYTES || publicKey.length !== ED25519_PUBLIC_BYTES) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}
