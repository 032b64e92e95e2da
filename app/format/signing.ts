/**
 * The signed message of spec §5.1 (R-SIG): the canonical re-serialization H(M − __signature__, T in data order),
 * signed with pure Ed25519. Verification is strict (W-14) and tries only caller-supplied trusted keys (W-3).
 */
import { utf8 } from '../crypto/bytes.ts';
import { ed25519Sign, ed25519Verify } from '../crypto/ed25519.ts';
import { SIGNATURE_KEY } from './crypto-metadata.ts';
import { canonicalHeaderText } from './safetensors.ts';
import type { Dtype } from './dtype.ts';
import type { VerifyKey } from './keys.ts';

export interface SignedTensor {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly bigint[];
  readonly begin: number;
  readonly end: number;
}

/** The exact bytes the reference signs: metadata minus `__signature__`, tensors in data order. */
export function signedMessage(metadata: ReadonlyMap<string, string>, tensorsInDataOrder: readonly SignedTensor[]): Uint8Array {
  const m = new Map(metadata);
  m.delete(SIGNATURE_KEY);
  return utf8(canonicalHeaderText(m, tensorsInDataOrder));
}

export function signMessage(message: Uint8Array, seed: Uint8Array): Uint8Array {
  return ed25519Sign(message, seed);
}

/** Returns the first trusted key that verifies the signature, in the caller's order; undefined if none does. */
export function findSigner<K extends VerifyKey>(signature: Uint8Array, message: Uint8Array, trusted: readonly K[]): K | undefined {
  for (const k of trusted) if (ed25519Verify(signature, message, k.publicKey)) return k;
  return undefined;
}
