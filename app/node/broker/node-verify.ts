/**
 * Ed25519 verification through node:crypto (OpenSSL), for the server's hot path: same pure Ed25519 (RFC 8032,
 * no prehash, no context) as the noble verifier, about 10x faster. Public keys are cached as KeyObjects.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { SignatureVerifier } from '../../broker/request-signing.ts';

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const cache = new Map<string, KeyObject>();

function keyObject(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey).toString('base64');
  let k = cache.get(id);
  if (k === undefined) {
    k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    if (cache.size > 50_000) cache.clear();
    cache.set(id, k);
  }
  return k;
}

export const nodeVerifier: SignatureVerifier = (signature, message, publicKey) => {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    return verify(null, message, keyObject(publicKey), signature);
  } catch {
    return false;
  }
};
