/**
 * Signed rotation bundles: what an offline rotation produces for the broker to import later (issue 5 item 4).
 *
 * JSON document, `format: "model-vault/rotation-bundle"`, `version: 1`:
 * - `enc`: old kid/fingerprint → new kid/fingerprint, the algorithm, and the new master key wrapped for each broker
 *   recipient (`wrapped`);
 * - `sign`: old → new signing key, with the new public key;
 * - `models`: one entry per rewrapped file: relative path, tensor count, SHA-256 of the header before and after;
 * - `approval`: when the new master key was split M-of-N, the split's parameters (never the shares);
 * - `signatures`: Ed25519 signatures over `SIGNING_PREFIX ‖ canonicalJson(bundle without signatures)`.
 *   The old signing key signs (continuity: the holder of the old key authorizes the change) and, when the signing
 *   key rotates, the new key signs as well (proof of possession). `verifyRotationBundle` requires every signature to
 *   be valid, at least one signer to be trusted by the caller, and the new key's signature when `sign` is present.
 *
 * Wrapping for the broker (`wrapKeyForRecipient`): X25519 ECIES. An ephemeral X25519 key agrees a secret with the
 * broker's X25519 public key; KEK = HKDF-SHA256(shared, salt = ephemeral pub ‖ recipient pub,
 * info = "model-vault/rotation-bundle/v1/wrap"); the key is sealed with ChaCha20-Poly1305 under a random nonce,
 * AAD = canonical JSON {bundleId, kid, alg, recipient}. Each wrap has its own ephemeral key, so each KEK is used once.
 *
 * The folder rotation that fills `models` plugs in later (it needs the codec's `rewrapModel`); this module only
 * builds, signs, verifies and (de)serializes the bundle.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8, wipe } from '../crypto/bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { AppError } from '../errors.ts';
import { canonicalJson, type CanonicalValue } from './canonical-json.ts';
import { fromB64std, toB64std, toB64url, toHex } from '../crypto/encoding.ts';
import { ED25519_PUBLIC_BYTES, fingerprintOf, fingerprintOfPublicKey, makeMasterKey, type MasterAlg, type MasterKey, signBytes, type SigningKey, verifyBytes } from './key.ts';

export const ROTATION_BUNDLE_FORMAT = 'model-vault/rotation-bundle';
const SIGNING_PREFIX = 'model-vault/rotation-bundle/v1\n';
const WRAP_INFO = 'model-vault/rotation-bundle/v1/wrap';
export const WRAP_SCHEME = 'x25519-hkdf-sha256-chacha20poly1305';

export interface WrappedKey {
  readonly scheme: typeof WRAP_SCHEME;
  /** The broker recipient key this is wrapped for. */
  readonly recipient: string;
  readonly ephemeralPublicKey: string;
  readonly nonce: string;
  readonly ciphertext: string;
}

export interface KeyChange {
  readonly oldKid: string;
  readonly oldFingerprint: string;
  readonly newKid: string;
  readonly newFingerprint: string;
}

export interface EncChange extends KeyChange {
  readonly alg: MasterAlg;
  readonly wrapped: readonly WrappedKey[];
}

export interface SignChange extends KeyChange {
  /** b64std Ed25519 public key of the new signing key. */
  readonly newPublicKey: string;
}

export interface ModelChange {
  /** Path relative to the rotated folder, `/`-separated. */
  readonly path: string;
  readonly tensors: number;
  readonly oldHeaderSha256: string;
  readonly newHeaderSha256: string;
}

export interface BundleSignature {
  readonly kid: string;
  readonly fingerprint: string;
  readonly publicKey: string;
  readonly signature: string;
}

export interface RotationBundleBody {
  readonly format: typeof ROTATION_BUNDLE_FORMAT;
  readonly version: 1;
  readonly bundleId: string;
  readonly createdAt: string;
  readonly producer?: string;
  readonly enc?: EncChange;
  readonly sign?: SignChange;
  readonly models: readonly ModelChange[];
  readonly approval?: { readonly threshold: number; readonly total: number };
}

export interface RotationBundle extends RotationBundleBody {
  readonly signatures: readonly BundleSignature[];
}

// ---------------------------------------------------------------------------------------------------------------
// wrapping for a broker recipient

export interface RecipientKeyPair {
  readonly id: string;
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

export function generateRecipientKeyPair(id: string): RecipientKeyPair {
  const { secretKey, publicKey } = x25519.keygen();
  return { id, publicKey, secretKey };
}

function wrapAad(bundleId: string, kid: string, alg: string, recipient: string): Uint8Array {
  return utf8(canonicalJson({ bundleId, kid, alg, recipient }));
}

function wrapKek(shared: Uint8Array, ephPub: Uint8Array, recipientPub: Uint8Array): Uint8Array {
  return hkdf(sha256, shared, concatBytes(ephPub, recipientPub), utf8(WRAP_INFO), 32);
}

export function wrapKeyForRecipient(key: MasterKey, bundleId: string, recipient: { id: string; publicKey: Uint8Array }): WrappedKey {
  if (!(recipient.publicKey instanceof Uint8Array) || recipient.publicKey.length !== 32) throw new AppError('KEY_INVALID', 'A broker recipient key must be a 32-byte X25519 public key.');
  if (key.kid === undefined) throw new AppError('VALIDATION', 'The new master key needs a kid.');
  const eph = x25519.keygen();
  const shared = x25519.getSharedSecret(eph.secretKey, recipient.publicKey);
  const kek = wrapKek(shared, eph.publicKey, recipient.publicKey);
  const nonce = randomBytes(12);
  try {
    const ct = chacha20poly1305(kek, nonce, wrapAad(bundleId, key.kid, key.alg, recipient.id)).encrypt(key.key);
    return { scheme: WRAP_SCHEME, recipient: recipient.id, ephemeralPublicKey: toB64std(eph.publicKey), nonce: toB64std(nonce), ciphertext: toB64std(ct) };
  } finally {
    wipe(eph.secretKey, shared, kek);
  }
}

/** The broker's side: recover the new master key from a verified bundle. */
export function unwrapKeyForRecipient(bundle: RotationBundleBody, recipient: RecipientKeyPair): MasterKey {
  const enc = bundle.enc;
  if (enc === undefined) throw new AppError('KEY_NOT_FOUND', 'This rotation bundle does not rotate the master key.');
  const w = enc.wrapped.find((x) => x.recipient === recipient.id);
  if (w === undefined) throw new AppError('KEY_NOT_FOUND', `This rotation bundle has no key wrapped for recipient ${recipient.id}.`);
  const eph = fromB64std(w.ephemeralPublicKey);
  const nonce = fromB64std(w.nonce);
  const ct = fromB64std(w.ciphertext);
  if (eph?.length !== 32 || nonce?.length !== 12 || ct === undefined) throw new AppError('VALIDATION', 'The wrapped key in the rotation bundle is malformed.');
  let shared: Uint8Array | undefined;
  let kek: Uint8Array | undefined;
  let raw: Uint8Array | undefined;
  try {
    shared = x25519.getSharedSecret(recipient.secretKey, eph);
    kek = wrapKek(shared, eph, recipient.publicKey);
    raw = chacha20poly1305(kek, nonce, wrapAad(bundle.bundleId, enc.newKid, enc.alg, recipient.id)).decrypt(ct);
  } catch {
    throw new AppError('DECRYPT_FAILED', 'Could not unwrap the new master key: wrong broker key or the bundle was modified.');
  } finally {
    wipe(shared, kek);
  }
  try {
    const key = makeMasterKey(enc.alg, raw, { kid: enc.newKid });
    if (fingerprintOf(key) !== enc.newFingerprint) throw new AppError('DECRYPT_FAILED', 'The unwrapped master key does not match the bundle fingerprint.');
    return key;
  } finally {
    wipe(raw);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// build, sign, verify

export function newBundleId(): string {
  return toB64url(randomBytes(16));
}

export function headerSha256(headerBytes: Uint8Array): string {
  return toHex(sha256(headerBytes));
}

function body(b: RotationBundleBody | RotationBundle): RotationBundleBody {
  const { format, version, bundleId, createdAt, producer, enc, sign, models, approval } = b;
  return { format, version, bundleId, createdAt, models, ...(producer === undefined ? {} : { producer }), ...(enc === undefined ? {} : { enc }), ...(sign === undefined ? {} : { sign }), ...(approval === undefined ? {} : { approval }) };
}

function signedMessage(b: RotationBundleBody): Uint8Array {
  return utf8(SIGNING_PREFIX + canonicalJson(body(b) as unknown as CanonicalValue));
}

export function signRotationBundle(b: RotationBundleBody, signers: readonly SigningKey[]): RotationBundle {
  if (signers.length === 0) throw new AppError('VALIDATION', 'A rotation bundle needs at least one signing key.');
  const msg = signedMessage(b);
  const signatures = signers.map((k) => {
    if (k.kid === undefined) throw new AppError('VALIDATION', 'Bundle signing keys need a kid.');
    return { kid: k.kid, fingerprint: fingerprintOf(k), publicKey: toB64std(k.publicKey), signature: toB64std(signBytes(k, msg)) };
  });
  return { ...body(b), signatures };
}

export interface BundleVerdict {
  readonly ok: boolean;
  /** Fingerprints of the valid signatures. */
  readonly signedBy: readonly string[];
  readonly problems: readonly string[];
}

/**
 * Verifies every signature, that at least one signer is trusted (`isTrusted(publicKey)`), and, when the signing key
 * rotates, that the new key signed too.
 */
export function verifyRotationBundle(b: RotationBundle, isTrusted: (publicKey: Uint8Array) => boolean): BundleVerdict {
  const problems: string[] = [];
  const signedBy: string[] = [];
  let trusted = false;
  let msg: Uint8Array;
  try {
    msg = signedMessage(b);
  } catch {
    return { ok: false, signedBy, problems: ['the bundle is malformed (only strings, integers, booleans, arrays and objects are allowed)'] };
  }
  if (b.format !== ROTATION_BUNDLE_FORMAT || b.version !== 1) problems.push('not a version 1 rotation bundle');
  if (!Array.isArray(b.signatures) || b.signatures.length === 0) problems.push('the bundle is not signed');
  const sigs: readonly unknown[] = Array.isArray(b.signatures) ? (b.signatures as readonly unknown[]) : [];
  for (const [i, raw] of sigs.entries()) {
    const r = raw as Partial<BundleSignature> | null;
    if (typeof r !== 'object' || r === null || typeof r.publicKey !== 'string' || typeof r.signature !== 'string' || typeof r.fingerprint !== 'string' || typeof r.kid !== 'string') {
      problems.push(`signature ${i + 1} is malformed`);
      continue;
    }
    const s = r as BundleSignature;
    const pk = fromB64std(s.publicKey);
    const sig = fromB64std(s.signature);
    if (pk === undefined || pk.length !== ED25519_PUBLIC_BYTES || sig === undefined || !verifyBytes(pk, msg, sig) || fingerprintOfPublicKey(pk) !== s.fingerprint) {
      problems.push(`signature ${i + 1} (${s.kid}) does not verify`);
      continue;
    }
    signedBy.push(s.fingerprint);
    if (isTrusted(pk)) trusted = true;
  }
  if (!trusted) problems.push('no signature by a trusted key');
  if (b.sign !== undefined && !signedBy.includes(b.sign.newFingerprint)) problems.push('the new signing key did not sign the bundle');
  if (b.sign !== undefined) {
    const pk = typeof b.sign.newPublicKey === 'string' ? fromB64std(b.sign.newPublicKey) : undefined;
    if (pk === undefined || pk.length !== ED25519_PUBLIC_BYTES || fingerprintOfPublicKey(pk) !== b.sign.newFingerprint) problems.push('the new signing public key does not match its fingerprint');
  }
  return { ok: problems.length === 0, signedBy, problems };
}

export function serializeRotationBundle(b: RotationBundle): string {
  return JSON.stringify(b, null, 2) + '\n';
}

export function parseRotationBundle(text: string): RotationBundle {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new AppError('VALIDATION', 'The rotation bundle is not valid JSON.');
  }
  const d = doc as Partial<RotationBundle> | null;
  if (d === null || typeof d !== 'object' || d.format !== ROTATION_BUNDLE_FORMAT || d.version !== 1 || typeof d.bundleId !== 'string' || typeof d.createdAt !== 'string' || !Array.isArray(d.models) || !Array.isArray(d.signatures)) {
    throw new AppError('VALIDATION', 'Not a version 1 Model Vault rotation bundle.');
  }
  return d as RotationBundle;
}
