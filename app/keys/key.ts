/**
 * The key model: master keys (the CryptoTensors `enc` key) and Ed25519 signing keys (the `sign` key).
 *
 * Key bytes live only in `Uint8Array`s inside these objects. Everything that is shown to a person or written to a
 * log uses the `fingerprint` and the `kid` instead (see `describeKey`).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, ctEqual, utf8 } from '../crypto/bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { AppError } from '../errors.ts';
import { toHex } from '../crypto/encoding.ts';

export const MASTER_ALGS = ['aes128gcm', 'aes256gcm', 'chacha20poly1305'] as const;
export type MasterAlg = (typeof MASTER_ALGS)[number];

export const SIGNING_ALG = 'ed25519' as const;
export type SigningAlg = typeof SIGNING_ALG;

export const MASTER_KEY_BYTES: Readonly<Record<MasterAlg, number>> = Object.freeze({ aes128gcm: 16, aes256gcm: 32, chacha20poly1305: 32 });
export const ED25519_SEED_BYTES = 32;
export const ED25519_PUBLIC_BYTES = 32;

/** The two kinds of key, and the reference's `kty` for each (spec §4.1). */
export const KEY_KINDS = Object.freeze({ master: 'oct', signing: 'okp' } as const);
export type KeyKind = keyof typeof KEY_KINDS;

export interface MasterKey {
  readonly kind: 'master';
  /** Canonical algorithm name. */
  readonly alg: MasterAlg;
  /** The spelling the key came with (e.g. `AES-256-GCM`), written back unchanged so exports round-trip exactly. */
  readonly algSpelling: string;
  readonly kid?: string;
  readonly jku?: string;
  readonly key: Uint8Array;
}

export interface SigningKey {
  readonly kind: 'signing';
  readonly alg: SigningAlg;
  readonly algSpelling: string;
  readonly kid?: string;
  readonly jku?: string;
  /** The RFC 8032 private key (32-byte seed); absent for a verify-only key. */
  readonly seed?: Uint8Array;
  readonly publicKey: Uint8Array;
}

export type KeyMaterial = MasterKey | SigningKey;

/** What may be shown anywhere: never key bytes. */
export interface KeyInfo {
  readonly kid: string | undefined;
  readonly kind: KeyKind;
  readonly alg: MasterAlg | SigningAlg;
  readonly fingerprint: string;
  /** True for a signing key without its private half. */
  readonly verifyOnly: boolean;
  readonly jku?: string;
}

/**
 * The reference's alg normalization (spec §3.1): delete `-` and lowercase. `undefined` if it names no master alg
 * (JOSE names such as `A256GCM` and underscores are rejected, as in the reference).
 */
export function normalizeMasterAlg(spelling: string): MasterAlg | undefined {
  const n = spelling.replace(/-/g, '').toLowerCase();
  return (MASTER_ALGS as readonly string[]).includes(n) ? (n as MasterAlg) : undefined;
}

export function normalizeSigningAlg(spelling: string): SigningAlg | undefined {
  return spelling.toLowerCase() === SIGNING_ALG ? SIGNING_ALG : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// kid conventions

/**
 * A kid is 1–128 characters from `A–Z a–z 0–9 . _ : @ + -`, starting with a letter or digit. This keeps kids safe as
 * keychain account names, file names, log fields and CLI arguments. Generated kids look like
 * `mv-enc-20261121-3f2a9c1b` (`mv-<enc|sign>-<UTC date>-<first 8 hex of the fingerprint>`).
 */
export const KID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/;

export function isValidKid(kid: string): boolean {
  return KID_PATTERN.test(kid);
}

export function assertValidKid(kid: string): void {
  if (!isValidKid(kid)) {
    throw new AppError('VALIDATION', `Invalid kid (${kid.length} characters): use 1-128 characters from A-Z a-z 0-9 . _ : @ + - starting with a letter or digit.`);
  }
}

export function generateKid(kind: KeyKind, fingerprint: string, now: Date = new Date()): string {
  const date = now.toISOString().slice(0, 10).replace(/-/g, '');
  return `mv-${kind === 'master' ? 'enc' : 'sign'}-${date}-${fingerprintHex(fingerprint).slice(0, 8)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// fingerprints

const FP_PREFIX = 'mvfp1:';

/**
 * A fingerprint identifies a key without revealing it: `mvfp1:` + 32 hex digits (128 bits) of
 * SHA-256("model-vault/key-fingerprint/v1" ‖ 0 ‖ kind ‖ 0 ‖ alg ‖ 0 ‖ public part). The public part is the Ed25519
 * public key for signing keys, and the key itself for master keys (a one-way hash of a uniformly random 128- or
 * 256-bit key reveals nothing usable). kid and jku are not included, so renaming a key keeps its fingerprint.
 */
export function fingerprintOf(key: KeyMaterial): string {
  const part = key.kind === 'master' ? key.key : key.publicKey;
  const label = utf8(`model-vault/key-fingerprint/v1\u0000${key.kind}\u0000${key.alg}\u0000`);
  return FP_PREFIX + toHex(sha256(concatBytes(label, part)).subarray(0, 16));
}

export function fingerprintOfPublicKey(publicKey: Uint8Array): string {
  return fingerprintOf({ kind: 'signing', alg: SIGNING_ALG, algSpelling: SIGNING_ALG, publicKey });
}

export function isFingerprint(text: string): boolean {
  return /^mvfp1:[0-9a-f]{32}$/.test(text);
}

function fingerprintHex(fp: string): string {
  return fp.startsWith(FP_PREFIX) ? fp.slice(FP_PREFIX.length) : fp;
}

/** A fingerprint as shown to people: `mvfp1:3f2a 9c1b …` groups of 4. */
export function formatFingerprint(fp: string): string {
  return FP_PREFIX + (fingerprintHex(fp).match(/.{1,4}/g) ?? []).join(' ');
}

export function describeKey(key: KeyMaterial): KeyInfo {
  return {
    kid: key.kid,
    kind: key.kind,
    alg: key.alg,
    fingerprint: fingerprintOf(key),
    verifyOnly: key.kind === 'signing' && key.seed === undefined,
    ...(key.jku === undefined ? {} : { jku: key.jku }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// construction and generation

export function makeMasterKey(alg: MasterAlg, key: Uint8Array, opts: { kid?: string; jku?: string; algSpelling?: string } = {}): MasterKey {
  if (!(key instanceof Uint8Array)) throw new AppError('KEY_INVALID', 'Master key must be bytes.');
  if (key.length !== MASTER_KEY_BYTES[alg]) {
    throw new AppError('KEY_INVALID', `A ${alg} master key must be ${MASTER_KEY_BYTES[alg]} bytes, got ${key.length}. Check the key's alg.`);
  }
  return Object.freeze({ kind: 'master', alg, algSpelling: opts.algSpelling ?? alg, key: key.slice(), ...kidJku(opts) });
}

/** Builds a signing key from a seed (public key derived) and, if given, checks the public key matches. */
export function makeSigningKey(parts: { seed?: Uint8Array; publicKey?: Uint8Array }, opts: { kid?: string; jku?: string; algSpelling?: string } = {}): SigningKey {
  const { seed } = parts;
  let { publicKey } = parts;
  if (seed !== undefined && (!(seed instanceof Uint8Array) || seed.length !== ED25519_SEED_BYTES)) {
    throw new AppError('KEY_INVALID', `An Ed25519 private key (d) must be ${ED25519_SEED_BYTES} bytes, got ${seed instanceof Uint8Array ? seed.length : 'a non-byte value'}.`);
  }
  if (publicKey !== undefined && (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_PUBLIC_BYTES)) {
    throw new AppError('KEY_INVALID', `An Ed25519 public key (x) must be ${ED25519_PUBLIC_BYTES} bytes, got ${publicKey instanceof Uint8Array ? publicKey.length : 'a non-byte value'}.`);
  }
  if (seed !== undefined) {
    const derived = ed25519.getPublicKey(seed);
    if (publicKey !== undefined && !ctEqual(derived, publicKey)) {
      throw new AppError('KEY_INVALID', 'The Ed25519 public key (x) does not match the private key (d). Export the key pair again from its source.');
    }
    publicKey = derived;
  }
  if (publicKey === undefined) throw new AppError('KEY_INVALID', 'An Ed25519 key needs a public key (x) or a private key (d).');
  return Object.freeze({
    kind: 'signing',
    alg: SIGNING_ALG,
    algSpelling: opts.algSpelling ?? SIGNING_ALG,
    publicKey: publicKey.slice(),
    ...(seed === undefined ? {} : { seed: seed.slice() }),
    ...kidJku(opts),
  });
}

function kidJku(opts: { kid?: string; jku?: string }): { kid?: string; jku?: string } {
  return { ...(opts.kid === undefined ? {} : { kid: opts.kid }), ...(opts.jku === undefined ? {} : { jku: opts.jku }) };
}

/** A fresh random master key with a generated kid unless one is given. */
export function generateMasterKey(alg: MasterAlg = 'aes256gcm', opts: { kid?: string; jku?: string; now?: Date } = {}): MasterKey {
  const bytes = randomBytes(MASTER_KEY_BYTES[alg]);
  try {
    const draft = makeMasterKey(alg, bytes);
    const kid = opts.kid ?? generateKid('master', fingerprintOf(draft), opts.now);
    assertValidKid(kid);
    return makeMasterKey(alg, bytes, { kid, ...(opts.jku === undefined ? {} : { jku: opts.jku }) });
  } finally {
    bytes.fill(0);
  }
}

export function generateSigningKey(opts: { kid?: string; jku?: string; now?: Date } = {}): SigningKey {
  const seed = randomBytes(ED25519_SEED_BYTES);
  try {
    const draft = makeSigningKey({ seed });
    const kid = opts.kid ?? generateKid('signing', fingerprintOf(draft), opts.now);
    assertValidKid(kid);
    return makeSigningKey({ seed }, { kid, ...(opts.jku === undefined ? {} : { jku: opts.jku }) });
  } finally {
    seed.fill(0);
  }
}

export function withKid<K extends KeyMaterial>(key: K, kid: string): K {
  assertValidKid(kid);
  return Object.freeze(Object.assign({}, key, { kid }));
}

/** The verify-only half of a signing key. */
export function publicHalf(key: SigningKey): SigningKey {
  return makeSigningKey({ publicKey: key.publicKey }, { algSpelling: key.algSpelling, ...kidJku(key) });
}

/** Best-effort wipe of a key's secret bytes once it is no longer needed. */
export function wipeKey(key: KeyMaterial): void {
  if (key.kind === 'master') key.key.fill(0);
  else key.seed?.fill(0);
}

// ---------------------------------------------------------------------------------------------------------------
// Ed25519 sign / verify for our own documents (rotation bundles, audit checkpoints, trust exports)

export function signBytes(key: SigningKey, message: Uint8Array): Uint8Array {
  if (key.seed === undefined) throw new AppError('KEY_INVALID', `Signing key ${key.kid ?? '(no kid)'} is verify-only: import its private half to sign.`);
  return ed25519.sign(message, key.seed);
}

/** Strict RFC 8032 verification (zip215: false), as the reference's ring does (spec W-14). Never throws. */
export function verifyBytes(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_PUBLIC_BYTES) return false;
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false; // malformed point or scalar: just "does not verify"
  }
}
