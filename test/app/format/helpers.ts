import { sha256, toHex } from '../../../app/crypto/sha256.ts';
import { utf8 } from '../../../app/crypto/bytes.ts';
import { signingKeyFromSeed, type MasterKey, type SigningKey } from '../../../app/format/keys.ts';
import type { NonceSource } from '../../../app/format/writer.ts';

export function seq(start: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}

export const MASTER_256: MasterKey = { alg: 'aes256gcm', kid: 'ct-enc', key: seq(0, 32) };
export const MASTER_128: MasterKey = { alg: 'aes128gcm', kid: 'ct-enc', key: seq(0, 16) };
export const MASTER_CHACHA: MasterKey = { alg: 'chacha20poly1305', kid: 'ct-enc', key: seq(0x80, 32) };
export const SIGNER: SigningKey = signingKeyFromSeed(seq(0x20, 32), { kid: 'ct-sign' });
export const SIGNER2: SigningKey = signingKeyFromSeed(seq(0x60, 32), { kid: 'rot-sign' });
export const EVIL: SigningKey = signingKeyFromSeed(seq(0xc0, 32), { kid: 'ct-sign' });

export function hex(bytes: Uint8Array): string {
  return toHex(bytes);
}

export function sha256Hex(bytes: Uint8Array): string {
  return toHex(sha256(bytes));
}

/** det_bytes of the vectors plan: concat sha256("<name>:<i>") truncated to n. */
export function detBytes(name: string, n: number, bool = false): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0, off = 0; off < n; i++) {
    const h = sha256(utf8(`${name}:${i}`));
    out.set(h.subarray(0, Math.min(32, n - off)), off);
    off += 32;
  }
  if (bool) for (let i = 0; i < n; i++) out[i] = (out[i] as number) & 1;
  return out;
}

export function fixedNonces(dek: Uint8Array, keyIv: Uint8Array, dataNonce: Uint8Array): NonceSource {
  return { dek: () => dek.slice(), keyIv: () => keyIv.slice(), dataNonce: () => dataNonce.slice() };
}

export function f32(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}
