/**
 * The bulk AEAD backend: node:crypto (OpenSSL, AES-NI), behind the same `AeadBackend` interface as the noble
 * path. Tests check both produce identical bytes. Also a streaming v1 sealer/opener for tensors larger than memory.
 */
import { createCipheriv, createDecipheriv, type CipherGCMTypes, type CipherChaCha20Poly1305Types } from 'node:crypto';
import { AppError } from '../../errors.ts';
import { TAG_BYTES, checkAeadArgs, decryptFailed, type AeadAlg, type AeadBackend, type Sealed } from '../../crypto/aead.ts';

type NodeAlg = CipherGCMTypes | CipherChaCha20Poly1305Types;

const NODE_NAMES: Readonly<Record<AeadAlg, NodeAlg>> = Object.freeze({ aes128gcm: 'aes-128-gcm', aes256gcm: 'aes-256-gcm', chacha20poly1305: 'chacha20-poly1305' });

function u8(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

export interface StreamSealer {
  update(plaintext: Uint8Array): Uint8Array;
  final(): Uint8Array; // the tag
}

export interface StreamOpener {
  /** Returns decrypted bytes that are NOT yet authenticated: callers must hold them back until `final()` succeeds. */
  update(ciphertext: Uint8Array): Uint8Array;
  final(): void;
}

export function streamSealer(alg: AeadAlg, key: Uint8Array, nonce: Uint8Array): StreamSealer {
  checkAeadArgs(alg, key, nonce);
  const c = createCipheriv(NODE_NAMES[alg] as CipherGCMTypes, key, nonce, { authTagLength: TAG_BYTES });
  return {
    update: (p) => u8(c.update(p)),
    final: () => {
      c.final();
      return u8(c.getAuthTag());
    },
  };
}

export function streamOpener(alg: AeadAlg, key: Uint8Array, nonce: Uint8Array, tag: Uint8Array): StreamOpener {
  checkAeadArgs(alg, key, nonce);
  if (!(tag instanceof Uint8Array) || tag.length !== TAG_BYTES) throw decryptFailed();
  const d = createDecipheriv(NODE_NAMES[alg] as CipherGCMTypes, key, nonce, { authTagLength: TAG_BYTES });
  d.setAuthTag(tag);
  return {
    update: (c) => u8(d.update(c)),
    final: () => {
      try {
        d.final();
      } catch {
        throw decryptFailed();
      }
    },
  };
}

export const nodeAead: AeadBackend = Object.freeze({
  name: 'node:crypto',
  seal(alg: AeadAlg, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Sealed {
    if (!(plaintext instanceof Uint8Array)) throw new AppError('VALIDATION', 'Plaintext must be a Uint8Array.');
    const s = streamSealer(alg, key, nonce);
    const ciphertext = s.update(plaintext);
    const tag = s.final();
    return { ciphertext, tag };
  },
  open(alg: AeadAlg, key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Uint8Array {
    if (!(ciphertext instanceof Uint8Array)) throw decryptFailed();
    const o = streamOpener(alg, key, nonce, tag);
    const plaintext = o.update(ciphertext);
    try {
      o.final();
    } catch (e) {
      plaintext.fill(0);
      throw e;
    }
    return plaintext;
  },
});
