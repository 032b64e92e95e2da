/**
 * The broker key-encryption key (README §8). 32 bytes, base64url, from a file (`--kek-file`, MV_BROKER_KEK_FILE) or
 * the environment (MV_BROKER_KEK); the file wins. Secrets are sealed with ChaCha20-Poly1305 under an HKDF subkey of
 * the KEK, a random nonce, and AAD binding the row id and purpose, so a ciphertext cannot be moved to another row.
 */
import { readFileSync } from 'node:fs';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { AppError } from '../../errors.ts';
import { utf8 } from '../../crypto/bytes.ts';
import { randomBytes } from '../../crypto/random.ts';
import { sha256, toHex } from '../../crypto/sha256.ts';
import { canonicalJson } from '../../keys/canonical-json.ts';
import { fromB64url, toB64url } from '../../crypto/encoding.ts';

export const KEK_BYTES = 32;
const SUBKEY_INFO = 'model-vault/broker/v1/kek';

export interface Kek {
  /** hex(sha256(KEK))[0..16]: safe to store and show. */
  readonly id: string;
  readonly subkey: Uint8Array;
}

export interface SealedSecret {
  readonly kekId: string;
  readonly nonce: string;
  readonly ciphertext: string;
}

export function kekFromBytes(raw: Uint8Array): Kek {
  if (raw.length !== KEK_BYTES) throw new AppError('KEY_INVALID', `The broker KEK must be ${KEK_BYTES} bytes (base64url), got ${raw.length}. Generate one with \`model-vault broker serve --new-kek-file <path>\`.`);
  return { id: toHex(sha256(raw)).slice(0, 16), subkey: hkdf(nobleSha256, raw, new Uint8Array(0), utf8(SUBKEY_INFO), 32) };
}

export function parseKekText(text: string): Kek {
  const raw = fromB64url(text.trim());
  if (raw === undefined) throw new AppError('KEY_INVALID', 'The broker KEK is not valid base64url. It must be 32 random bytes, base64url without padding.');
  return kekFromBytes(raw);
}

export function newKekText(): string {
  return toB64url(randomBytes(KEK_BYTES));
}

/** Loads the KEK: file first, then MV_BROKER_KEK. */
export function loadKek(opts: { file?: string | undefined; env: Readonly<Record<string, string | undefined>> }): Kek {
  const file = opts.file ?? opts.env.MV_BROKER_KEK_FILE;
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new AppError('KEY_NOT_FOUND', 'Cannot read the broker KEK file. Check the path and permissions.', { cause: e });
    }
    return parseKekText(text);
  }
  const envText = opts.env.MV_BROKER_KEK;
  if (envText !== undefined && envText !== '') return parseKekText(envText);
  throw new AppError('KEY_NOT_FOUND', 'No broker KEK: pass --kek-file <path> or set MV_BROKER_KEK (32 random bytes, base64url).');
}

function aad(id: string, purpose: string): Uint8Array {
  return utf8(canonicalJson({ id, purpose }));
}

export function sealSecret(kek: Kek, id: string, purpose: string, plaintext: Uint8Array): SealedSecret {
  const nonce = randomBytes(12);
  const ct = chacha20poly1305(kek.subkey, nonce, aad(id, purpose)).encrypt(plaintext);
  return { kekId: kek.id, nonce: toB64url(nonce), ciphertext: toB64url(ct) };
}

export function openSecret(kek: Kek, id: string, purpose: string, s: SealedSecret): Uint8Array {
  if (s.kekId !== kek.id) throw new AppError('KEY_NOT_FOUND', 'A broker secret is sealed under another KEK. Start the broker with the current KEK (see README §8 for rotation).');
  const nonce = fromB64url(s.nonce);
  const ct = fromB64url(s.ciphertext);
  if (nonce?.length !== 12 || ct === undefined) throw new AppError('DECRYPT_FAILED', 'A broker secret is malformed in the database.');
  try {
    return chacha20poly1305(kek.subkey, nonce, aad(id, purpose)).decrypt(ct);
  } catch {
    throw new AppError('DECRYPT_FAILED', 'A broker secret does not open under the KEK: the database was modified or the wrong KEK is loaded.');
  }
}
