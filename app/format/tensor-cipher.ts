/**
 * Tensor encryption of the CryptoTensors codec (spec §3): per-tensor DEK wrapped under the master key, v1
 * (one AEAD per tensor) and v2 (chunked, counter nonces R-IV). Empty AAD everywhere and random 96-bit nonces, as
 * the reference requires (documented exception in STYLE §6). The AEAD backend is injectable (noble or node:crypto).
 */
import { AppError, BugError } from '../errors.ts';
import { NONCE_BYTES, TAG_BYTES, aeadKeyBytes, decryptFailed, type AeadAlg, type AeadBackend } from '../crypto/aead.ts';
import { randomBytes } from '../crypto/random.ts';
import type { EncryptionEntry } from './crypto-metadata.ts';

const U32_MAX = 0xffffffff;

export function chunkCount(byteLength: number, chunkSize: number): number {
  return byteLength === 0 ? 0 : Math.ceil(byteLength / chunkSize);
}

function counter0(baseIv: Uint8Array): number {
  return (((baseIv[8] as number) << 24) >>> 0) + ((baseIv[9] as number) << 16) + ((baseIv[10] as number) << 8) + (baseIv[11] as number);
}

/** R-IV: base_iv[0..8] ‖ BE32(counter0 + index); no wrap-around. */
export function chunkNonce(baseIv: Uint8Array, index: number): Uint8Array {
  if (!(baseIv instanceof Uint8Array) || baseIv.length !== NONCE_BYTES) throw new AppError('CRYPTO_METADATA_INVALID', `base_iv must be ${NONCE_BYTES} bytes.`);
  if (!Number.isSafeInteger(index) || index < 0) throw new AppError('CRYPTO_METADATA_INVALID', 'Chunk index must be a non-negative integer.');
  const c = counter0(baseIv) + index;
  if (c > U32_MAX) throw new AppError('CRYPTO_METADATA_INVALID', 'Chunk index overflows the nonce counter.');
  const out = baseIv.slice(0, NONCE_BYTES);
  out[8] = (c >>> 24) & 0xff;
  out[9] = (c >>> 16) & 0xff;
  out[10] = (c >>> 8) & 0xff;
  out[11] = c & 0xff;
  return out;
}

/** A random base_iv whose counter does not overflow for `chunks` chunks (the reference may fail here; we redraw, W-9). */
export function drawBaseIv(chunks: number, random: (n: number) => Uint8Array = randomBytes): Uint8Array {
  if (chunks > U32_MAX + 1) throw new AppError('LIMIT_EXCEEDED', 'Too many chunks for one tensor: use a larger chunk size.');
  for (;;) {
    const iv = random(NONCE_BYTES);
    if (counter0(iv) + Math.max(0, chunks - 1) <= U32_MAX) return iv;
  }
}

export interface WrappedDek {
  readonly wrappedKey: Uint8Array;
  readonly keyIv: Uint8Array;
  readonly keyTag: Uint8Array;
}

export function wrapDek(aead: AeadBackend, alg: AeadAlg, masterKey: Uint8Array, dek: Uint8Array, keyIv: Uint8Array = randomBytes(NONCE_BYTES)): WrappedDek {
  if (!(dek instanceof Uint8Array) || dek.length !== aeadKeyBytes(alg)) throw new AppError('KEY_INVALID', `Data key for ${alg} must be ${aeadKeyBytes(alg)} bytes.`);
  const { ciphertext, tag } = aead.seal(alg, masterKey, keyIv, dek);
  return { wrappedKey: ciphertext, keyIv, keyTag: tag };
}

export function unwrapDek(aead: AeadBackend, alg: AeadAlg, masterKey: Uint8Array, entry: WrappedDek): Uint8Array {
  const dek = aead.open(alg, masterKey, entry.keyIv, entry.wrappedKey, entry.keyTag);
  if (dek.length !== aeadKeyBytes(alg)) throw decryptFailed();
  return dek;
}

export interface TensorCipherParams {
  readonly alg: AeadAlg;
  readonly chunked: boolean;
  readonly chunkSize: number;
}

/**
 * Encrypts one tensor (v1 or v2) with a given DEK and nonce material; returns the ciphertext (same length) and
 * the entry's data fields. Used by the in-memory writer and tests; the Node writer streams the same steps.
 */
export function encryptTensor(aead: AeadBackend, p: TensorCipherParams, dek: Uint8Array, plaintext: Uint8Array, nonce: Uint8Array): { ciphertext: Uint8Array; fields: Pick<EncryptionEntry, 'iv' | 'tag' | 'baseIv' | 'tags'> } {
  if (!p.chunked) {
    if (plaintext.length === 0) return { ciphertext: new Uint8Array(0), fields: { iv: new Uint8Array(0), tag: new Uint8Array(0) } };
    const { ciphertext, tag } = aead.seal(p.alg, dek, nonce, plaintext);
    return { ciphertext, fields: { iv: nonce, tag } };
  }
  const k = chunkCount(plaintext.length, p.chunkSize);
  if (k === 0) {
    const { tag } = aead.seal(p.alg, dek, nonce, plaintext);
    return { ciphertext: new Uint8Array(0), fields: { baseIv: nonce, tags: tag } };
  }
  const ciphertext = new Uint8Array(plaintext.length);
  const tags = new Uint8Array(k * TAG_BYTES);
  for (let i = 0; i < k; i++) {
    const start = i * p.chunkSize;
    const end = Math.min(plaintext.length, start + p.chunkSize);
    const sealed = aead.seal(p.alg, dek, chunkNonce(nonce, i), plaintext.subarray(start, end));
    ciphertext.set(sealed.ciphertext, start);
    tags.set(sealed.tag, i * TAG_BYTES);
  }
  return { ciphertext, fields: { baseIv: nonce, tags } };
}

/** Decrypts a whole tensor. Every failure is the generic DECRYPT_FAILED (W-5: never returns ciphertext). */
export function decryptTensor(aead: AeadBackend, p: TensorCipherParams, dek: Uint8Array, entry: EncryptionEntry, ciphertext: Uint8Array): Uint8Array {
  if (!p.chunked) {
    const iv = entry.iv;
    const tag = entry.tag;
    if (iv === undefined || tag === undefined) throw decryptFailed();
    if (ciphertext.length === 0 && iv.length === 0 && tag.length === 0) return new Uint8Array(0);
    return aead.open(p.alg, dek, iv, ciphertext, tag);
  }
  return decryptChunks(aead, p, dek, entry, ciphertext.length, 0, ciphertext);
}

/** The chunk index range [first, last) covering bytes [start, end) of a tensor of `byteLength` bytes. */
export function chunksCovering(byteLength: number, chunkSize: number, start: number, end: number): { first: number; last: number } {
  if (!(start >= 0 && start <= end && end <= byteLength)) throw new BugError('chunksCovering: bad range');
  if (start === end) return { first: 0, last: 0 };
  return { first: Math.floor(start / chunkSize), last: Math.ceil(end / chunkSize) };
}

/**
 * Decrypts chunks `first…` of a v2 tensor whose ciphertext bytes (starting at chunk `first`) are in `ciphertext`.
 * For an empty tensor (byteLength 0) checks the single tag with base_iv as the nonce.
 */
export function decryptChunks(aead: AeadBackend, p: TensorCipherParams, dek: Uint8Array, entry: EncryptionEntry, byteLength: number, first: number, ciphertext: Uint8Array): Uint8Array {
  const baseIv = entry.baseIv;
  const tags = entry.tags;
  if (baseIv === undefined || tags === undefined) throw decryptFailed();
  if (byteLength === 0) {
    aead.open(p.alg, dek, baseIv, new Uint8Array(0), tags.subarray(0, TAG_BYTES));
    return new Uint8Array(0);
  }
  const out = new Uint8Array(ciphertext.length);
  const startByte = first * p.chunkSize;
  for (let off = 0; off < ciphertext.length; ) {
    const i = first + Math.floor(off / p.chunkSize);
    const len = Math.min(p.chunkSize, byteLength - (startByte + off));
    if (len <= 0 || off + len > ciphertext.length) throw new BugError('decryptChunks: ciphertext not chunk-aligned');
    const tag = tags.subarray(i * TAG_BYTES, (i + 1) * TAG_BYTES);
    if (tag.length !== TAG_BYTES) throw decryptFailed();
    out.set(aead.open(p.alg, dek, chunkNonce(baseIv, i), ciphertext.subarray(off, off + len), tag), off);
    off += len;
  }
  return out;
}
