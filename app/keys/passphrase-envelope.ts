/**
 * Passphrase-encrypted JSON envelopes, used by key backups (`backup.ts`) and the file keystore
 * (`app/node/keys/file-keystore.ts`).
 *
 * Envelope (JSON):
 *   { "format": "<what this is>", "version": 1,
 *     "kdf":  { "name": "scrypt", "N": 131072, "r": 8, "p": 1, "salt": "<b64std, 16 bytes>" },
 *     "aead": { "name": "xchacha20poly1305", "nonce": "<b64std, 24 bytes>" },
 *     "public": { … non-secret description … },
 *     "ciphertext": "<b64std>" }
 *
 * - KEK = scrypt(NFC(passphrase), salt, N, r, p, 32 bytes).
 * - ciphertext = XChaCha20-Poly1305(KEK, nonce, AAD, plaintext), AAD = canonical JSON of every field except
 *   `ciphertext`, so the parameters and the public description cannot be changed without detection.
 * - The 24-byte random nonce makes nonce reuse negligible even when one KEK seals many versions of a keystore.
 *
 * scrypt parameters (README "Passphrase KDF"): the default N = 2^17, r = 8, p = 1 uses 128 MiB and about one second
 * in @noble/hashes on one core, which is the OWASP minimum for scrypt; a guess costs an attacker the same memory.
 * Reading accepts only 2^10 ≤ N ≤ 2^20, 1 ≤ r ≤ 32, 1 ≤ p ≤ 16, so a crafted file cannot make us allocate
 * gigabytes or spin for minutes. Tests pass small parameters explicitly.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { utf8 } from '../crypto/bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { AppError } from '../errors.ts';
import { canonicalJson, type CanonicalValue } from './canonical-json.ts';
import { fromB64std, toB64std } from '../crypto/encoding.ts';

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = Object.freeze({ N: 2 ** 17, r: 8, p: 1 });
export const SCRYPT_LIMITS = Object.freeze({ minN: 2 ** 10, maxN: 2 ** 20, maxR: 32, maxP: 16 });
export const MIN_PASSPHRASE_CHARS = 8;
const SALT_BYTES = 16;
const NONCE_BYTES = 24;
const KEK_BYTES = 32;

export interface KdfDescriptor extends ScryptParams {
  readonly name: 'scrypt';
  readonly salt: string;
}

export interface EnvelopeHeader {
  readonly format: string;
  readonly version: 1;
  readonly kdf: KdfDescriptor;
  readonly aead: { readonly name: 'xchacha20poly1305'; readonly nonce: string };
  readonly public: { readonly [key: string]: CanonicalValue };
}

export interface Envelope extends EnvelopeHeader {
  readonly ciphertext: string;
}

/** A key-encryption key derived from a passphrase, with the KDF descriptor that produced it. */
export interface Kek {
  readonly kdf: KdfDescriptor;
  readonly key: Uint8Array;
}

function checkParams(p: ScryptParams, where: string): void {
  const pow2 = Number.isSafeInteger(p.N) && p.N > 1 && (p.N & (p.N - 1)) === 0;
  if (!pow2 || p.N < SCRYPT_LIMITS.minN || p.N > SCRYPT_LIMITS.maxN || !Number.isInteger(p.r) || p.r < 1 || p.r > SCRYPT_LIMITS.maxR || !Number.isInteger(p.p) || p.p < 1 || p.p > SCRYPT_LIMITS.maxP) {
    throw new AppError('VALIDATION', `${where}: scrypt parameters out of range (N a power of two in 2^10..2^20, r 1..32, p 1..16).`);
  }
}

export function checkNewPassphrase(passphrase: string): void {
  if (typeof passphrase !== 'string' || [...passphrase.normalize('NFC')].length < MIN_PASSPHRASE_CHARS) {
    throw new AppError('VALIDATION', `The passphrase is too short: use at least ${MIN_PASSPHRASE_CHARS} characters (a few random words are best).`);
  }
}

export async function deriveKek(passphrase: string, kdf: KdfDescriptor): Promise<Kek> {
  checkParams(kdf, 'KDF');
  const salt = fromB64std(kdf.salt);
  if (salt === undefined || salt.length !== SALT_BYTES) throw new AppError('VALIDATION', `KDF salt must be ${SALT_BYTES} bytes of base64.`);
  const pw = utf8(passphrase.normalize('NFC'));
  try {
    const key = await scryptAsync(pw, salt, { N: kdf.N, r: kdf.r, p: kdf.p, dkLen: KEK_BYTES, maxmem: 2 ** 31 });
    return { kdf: { name: 'scrypt', N: kdf.N, r: kdf.r, p: kdf.p, salt: kdf.salt }, key };
  } finally {
    pw.fill(0);
  }
}

/** A new KEK with a fresh salt. */
export async function newKek(passphrase: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<Kek> {
  checkNewPassphrase(passphrase);
  checkParams(params, 'KDF');
  return deriveKek(passphrase, { name: 'scrypt', N: params.N, r: params.r, p: params.p, salt: toB64std(randomBytes(SALT_BYTES)) });
}

function aadOf(h: EnvelopeHeader): Uint8Array {
  return utf8(canonicalJson({ format: h.format, version: h.version, kdf: { ...h.kdf }, aead: { ...h.aead }, public: h.public }));
}

export function sealWithKek(kek: Kek, format: string, publicPart: { readonly [key: string]: CanonicalValue }, plaintext: Uint8Array): Envelope {
  const header: EnvelopeHeader = { format, version: 1, kdf: kek.kdf, aead: { name: 'xchacha20poly1305', nonce: toB64std(randomBytes(NONCE_BYTES)) }, public: publicPart };
  const nonce = fromB64std(header.aead.nonce) as Uint8Array;
  const ciphertext = xchacha20poly1305(kek.key, nonce, aadOf(header)).encrypt(plaintext);
  return { ...header, ciphertext: toB64std(ciphertext) };
}

/** Parses and checks the envelope's shape (not its authenticity). */
export function parseEnvelope(text: string, expectedFormat: string, what: string): Envelope {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new AppError('VALIDATION', `${what} is not valid JSON. Check that the file is complete.`);
  }
  const bad = (detail: string): AppError => new AppError('VALIDATION', `${what} is malformed (${detail}).`);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('not an object');
  const d = doc as Record<string, unknown>;
  if (d.format !== expectedFormat) throw bad(`expected format "${expectedFormat}"`);
  if (d.version !== 1) throw bad('unsupported version');
  const kdf = d.kdf as Record<string, unknown> | undefined;
  const aead = d.aead as Record<string, unknown> | undefined;
  if (typeof kdf !== 'object' || kdf === null || kdf.name !== 'scrypt' || typeof kdf.N !== 'number' || typeof kdf.r !== 'number' || typeof kdf.p !== 'number' || typeof kdf.salt !== 'string') throw bad('kdf');
  if (typeof aead !== 'object' || aead === null || aead.name !== 'xchacha20poly1305' || typeof aead.nonce !== 'string') throw bad('aead');
  if (typeof d.ciphertext !== 'string') throw bad('ciphertext');
  const pub = d.public;
  if (typeof pub !== 'object' || pub === null || Array.isArray(pub)) throw bad('public');
  checkParams({ N: kdf.N, r: kdf.r, p: kdf.p }, what);
  try {
    canonicalJson(pub as CanonicalValue); // the AAD must be computable: only canonical JSON values
  } catch {
    throw bad('public');
  }
  return {
    format: expectedFormat,
    version: 1,
    kdf: { name: 'scrypt', N: kdf.N, r: kdf.r, p: kdf.p, salt: kdf.salt },
    aead: { name: 'xchacha20poly1305', nonce: aead.nonce },
    public: pub as { readonly [key: string]: CanonicalValue },
    ciphertext: d.ciphertext,
  };
}

/** Decrypts; a wrong passphrase and a tampered file give the same PASSPHRASE_WRONG error (STYLE §5). */
export function openWithKek(kek: Kek, env: Envelope, what: string): Uint8Array {
  const nonce = fromB64std(env.aead.nonce);
  const ct = fromB64std(env.ciphertext);
  if (nonce === undefined || nonce.length !== NONCE_BYTES || ct === undefined || ct.length < 16) throw new AppError('VALIDATION', `${what} is malformed (nonce or ciphertext).`);
  try {
    return xchacha20poly1305(kek.key, nonce, aadOf(env)).decrypt(ct);
  } catch {
    throw new AppError('PASSPHRASE_WRONG', `Could not open ${what}: the passphrase is wrong or the file was modified. Try again, or restore the file from a backup.`);
  }
}

export async function sealWithPassphrase(passphrase: string, format: string, publicPart: { readonly [key: string]: CanonicalValue }, plaintext: Uint8Array, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const kek = await newKek(passphrase, params);
  try {
    return JSON.stringify(sealWithKek(kek, format, publicPart, plaintext), null, 2) + '\n';
  } finally {
    kek.key.fill(0);
  }
}

export async function openWithPassphrase(passphrase: string, text: string, format: string, what: string): Promise<{ envelope: Envelope; plaintext: Uint8Array }> {
  const envelope = parseEnvelope(text, format, what);
  const kek = await deriveKek(passphrase, envelope.kdf);
  try {
    return { envelope, plaintext: openWithKek(kek, envelope, what) };
  } finally {
    kek.key.fill(0);
  }
}
