/**
 * Key material for the CryptoTensors codec and its JWK dialect (spec §4.1, W-12): lowercase `kty` (`oct`/`okp`),
 * `alg` required, `k`/`x`/`d` in padded standard base64, `d` is the 32-byte Ed25519 seed. We also accept RFC 8037
 * public keys (`OKP`, `crv: Ed25519`, base64url) on input, and always emit the reference dialect.
 */
import { AppError } from '../errors.ts';
import { aeadKeyBytes, normalizeAeadAlg, type AeadAlg } from '../crypto/aead.ts';
import { ctEqual } from '../crypto/bytes.ts';
import { ED25519_PUBLIC_BYTES, ED25519_SEED_BYTES, ed25519PublicKey } from '../crypto/ed25519.ts';
import { fingerprintOfPublicKey } from '../keys/key.ts';
import { fromB64std, toB64std } from '../crypto/encoding.ts';
import { JsonSyntaxError, parseJson, type JsonValue } from './json.ts';

/** A master (key-encryption) key. `alg` keeps its spelling (written verbatim into headers, as the reference does). */
export interface MasterKey {
  readonly alg: string;
  readonly kid?: string;
  readonly jku?: string;
  readonly key: Uint8Array;
}

export interface VerifyKey {
  readonly kid?: string;
  readonly jku?: string;
  readonly publicKey: Uint8Array;
}

export interface SigningKey extends VerifyKey {
  readonly seed: Uint8Array;
}

/** Checks a master key and returns its normalized algorithm. */
export function checkMasterKey(key: MasterKey): AeadAlg {
  if (typeof key !== 'object' || key === null) throw new AppError('KEY_INVALID', 'Master key must be an object.');
  if (typeof key.alg !== 'string') throw new AppError('KEY_INVALID', 'Master key alg must be a string.');
  const alg = normalizeAeadAlg(key.alg);
  if (alg === undefined) throw new AppError('KEY_INVALID', 'Master key alg is not aes128gcm, aes256gcm or chacha20poly1305.');
  if (!(key.key instanceof Uint8Array) || key.key.length !== aeadKeyBytes(alg)) throw new AppError('KEY_INVALID', `Master key for ${alg} must be ${aeadKeyBytes(alg)} bytes.`);
  checkOptionalString(key.kid, 'kid');
  checkOptionalString(key.jku, 'jku');
  return alg;
}

export function checkVerifyKey(key: VerifyKey): void {
  if (typeof key !== 'object' || key === null) throw new AppError('KEY_INVALID', 'Verify key must be an object.');
  if (!(key.publicKey instanceof Uint8Array) || key.publicKey.length !== ED25519_PUBLIC_BYTES) throw new AppError('KEY_INVALID', `Ed25519 public key must be ${ED25519_PUBLIC_BYTES} bytes.`);
  checkOptionalString(key.kid, 'kid');
  checkOptionalString(key.jku, 'jku');
}

export function checkSigningKey(key: SigningKey): void {
  checkVerifyKey(key);
  if (!(key.seed instanceof Uint8Array) || key.seed.length !== ED25519_SEED_BYTES) throw new AppError('KEY_INVALID', `Ed25519 seed must be ${ED25519_SEED_BYTES} bytes.`);
  if (!ctEqual(ed25519PublicKey(key.seed), key.publicKey)) throw new AppError('KEY_INVALID', 'Ed25519 public key does not match the seed.');
}

function checkOptionalString(v: unknown, what: string): void {
  if (v !== undefined && typeof v !== 'string') throw new AppError('KEY_INVALID', `Key ${what} must be a string.`);
}

export function signingKeyFromSeed(seed: Uint8Array, ids: { kid?: string; jku?: string } = {}): SigningKey {
  return Object.freeze({ ...ids, seed, publicKey: ed25519PublicKey(seed) });
}

/** The project-wide key fingerprint (`mvfp1:…`, app/keys) of an Ed25519 public key: safe to show. */
export function keyFingerprint(publicKey: Uint8Array): string {
  return fingerprintOfPublicKey(publicKey);
}

// ---------------------------------------------------------------------------------------------------------------
// JWK dialect

export type ParsedJwk = { readonly kind: 'master'; readonly key: MasterKey } | { readonly kind: 'signing'; readonly key: SigningKey } | { readonly kind: 'verify'; readonly key: VerifyKey };

function b64urlToStd(text: string): string | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const std = text.replaceAll('-', '+').replaceAll('_', '/');
  return std + '='.repeat((4 - (std.length % 4)) % 4);
}

function objField(obj: Extract<JsonValue, { t: 'obj' }>, name: string): string | undefined {
  for (const [k, v] of obj.members) {
    if (k !== name) continue;
    if (v.t !== 'str') throw new AppError('KEY_INVALID', `JWK field ${name} must be a string.`);
    return v.v;
  }
  return undefined;
}

function decodeField(text: string | undefined, rfc: boolean, what: string): Uint8Array | undefined {
  if (text === undefined) return undefined;
  const std = rfc ? b64urlToStd(text) : text;
  const bytes = std === undefined ? undefined : fromB64std(std);
  if (bytes === undefined) throw new AppError('KEY_INVALID', `JWK field ${what} is not valid base64.`);
  return bytes;
}

export function jwkFromJsonValue(v: JsonValue): ParsedJwk {
  if (v.t !== 'obj') throw new AppError('KEY_INVALID', 'A JWK must be a JSON object.');
  const kty = objField(v, 'kty');
  const alg = objField(v, 'alg');
  const kid = objField(v, 'kid');
  const jku = objField(v, 'jku');
  const ids = { ...(kid === undefined ? {} : { kid }), ...(jku === undefined ? {} : { jku }) };
  if (kty === 'oct') {
    if (alg === undefined || alg === '') throw new AppError('KEY_INVALID', 'A master-key JWK needs an alg.');
    const key = decodeField(objField(v, 'k'), false, 'k');
    if (key === undefined) throw new AppError('KEY_INVALID', 'A master-key JWK needs k.');
    const mk: MasterKey = Object.freeze({ alg, ...ids, key });
    checkMasterKey(mk);
    return { kind: 'master', key: mk };
  }
  const rfc = kty === 'OKP';
  if (kty === 'okp' || rfc) {
    if (rfc && objField(v, 'crv') !== 'Ed25519') throw new AppError('KEY_INVALID', 'Only Ed25519 OKP keys are supported.');
    if (!rfc && (alg === undefined || alg.toLowerCase() !== 'ed25519')) throw new AppError('KEY_INVALID', 'A signing-key JWK needs alg ed25519.');
    const x = decodeField(objField(v, 'x'), rfc, 'x');
    const d = decodeField(objField(v, 'd'), rfc, 'd');
    if (d !== undefined) {
      if (d.length !== ED25519_SEED_BYTES) throw new AppError('KEY_INVALID', `Ed25519 seed must be ${ED25519_SEED_BYTES} bytes.`);
      const sk: SigningKey = Object.freeze({ ...ids, seed: d, publicKey: x ?? ed25519PublicKey(d) });
      checkSigningKey(sk);
      return { kind: 'signing', key: sk };
    }
    if (x === undefined) throw new AppError('KEY_INVALID', 'An Ed25519 JWK needs x or d.');
    const vk: VerifyKey = Object.freeze({ ...ids, publicKey: x });
    checkVerifyKey(vk);
    return { kind: 'verify', key: vk };
  }
  throw new AppError('KEY_INVALID', 'JWK kty must be "oct" or "okp".');
}

/** Parses a JWK or a JWK Set (`{"keys":[…]}`) in the reference dialect. */
export function parseJwks(text: string): ParsedJwk[] {
  if (typeof text !== 'string') throw new AppError('KEY_INVALID', 'JWK text must be a string.');
  let root: JsonValue;
  try {
    root = parseJson(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new AppError('KEY_INVALID', 'The key file is not valid JSON.');
    throw e;
  }
  if (root.t === 'obj') {
    const keys = root.members.find(([k]) => k === 'keys')?.[1];
    if (keys !== undefined) {
      if (keys.t !== 'arr') throw new AppError('KEY_INVALID', 'JWK Set "keys" must be an array.');
      return keys.items.map(jwkFromJsonValue);
    }
  }
  return [jwkFromJsonValue(root)];
}

function idsJson(k: { readonly kid?: string; readonly jku?: string }): Record<string, string> {
  return { ...(k.kid === undefined ? {} : { kid: k.kid }), ...(k.jku === undefined ? {} : { jku: k.jku }) };
}

/** Emits a JWK in the reference dialect. Contains secret material for master and signing keys. */
export function masterKeyToJwk(key: MasterKey): string {
  checkMasterKey(key);
  return JSON.stringify({ kty: 'oct', alg: key.alg, ...idsJson(key), k: toB64std(key.key) });
}

export function signingKeyToJwk(key: SigningKey): string {
  checkSigningKey(key);
  return JSON.stringify({ kty: 'okp', alg: 'ed25519', ...idsJson(key), x: toB64std(key.publicKey), d: toB64std(key.seed) });
}

export function verifyKeyToJwk(key: VerifyKey): string {
  checkVerifyKey(key);
  return JSON.stringify({ kty: 'okp', alg: 'ed25519', ...idsJson(key), x: toB64std(key.publicKey) });
}
