/**
 * The reference's key JSON dialect (spec §4.1, §4.2, W-12), read and written exactly, plus RFC 7517/8037 JWKs
 * accepted on input.
 *
 * Reference dialect: `kty` is lowercase `oct` (master) or `okp` (Ed25519); `alg` is required; `k`, `x`, `d` are
 * padded standard base64 (R-B64); `d` is the 32-byte seed; other fields are ignored. A set is `{"keys":[…]}`.
 *
 * RFC dialect (input only): `kty` `OKP` + `crv` `Ed25519` (alg `EdDSA` or absent), or `kty` `oct` with a JOSE alg
 * (`A128GCM`, `A256GCM`); binary fields are unpadded base64url. We always **emit** the reference dialect.
 *
 * Errors never quote field values: they name the field and describe its shape.
 */
import { AppError } from '../errors.ts';
import { fromB64std, fromB64url, toB64std } from '../crypto/encoding.ts';
import {
  type KeyMaterial,
  type MasterAlg,
  type MasterKey,
  type SigningKey,
  makeMasterKey,
  makeSigningKey,
  MASTER_KEY_BYTES,
  normalizeMasterAlg,
  normalizeSigningAlg,
} from './key.ts';

/** `import`: the reference's provider rules (oct needs k, okp needs x; d optional). `creation`: okp needs d and x. */
export type JwkMode = 'import' | 'creation';

const JOSE_OCT_ALGS: Readonly<Record<string, MasterAlg>> = Object.freeze({ A128GCM: 'aes128gcm', A256GCM: 'aes256gcm' });

type Json = Readonly<Record<string, unknown>>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(obj: Json, field: string, where: string): string | undefined {
  const v = obj[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new AppError('KEY_INVALID', `${where}: field "${field}" must be a string, got ${typeName(v)}.`);
  return v;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

function bin(obj: Json, field: string, where: string, dialect: 'reference' | 'rfc'): Uint8Array | undefined {
  const text = optString(obj, field, where);
  if (text === undefined) return undefined;
  const bytes = dialect === 'reference' ? fromB64std(text) : fromB64url(text);
  if (bytes === undefined) {
    const expected = dialect === 'reference' ? 'padded standard base64 (the CryptoTensors dialect)' : 'unpadded base64url (RFC 7517)';
    throw new AppError('KEY_INVALID', `${where}: field "${field}" is not valid ${expected} (${text.length} characters).`);
  }
  return bytes;
}

function kidJku(obj: Json, where: string): { kid?: string; jku?: string } {
  const kid = optString(obj, 'kid', where);
  const jku = optString(obj, 'jku', where);
  return { ...(kid === undefined ? {} : { kid }), ...(jku === undefined ? {} : { jku }) };
}

/** Parses one JWK (either dialect). `where` names the key in messages, e.g. "key 2 of keys.jwk". */
export function parseJwk(value: unknown, opts: { mode?: JwkMode; where?: string } = {}): KeyMaterial {
  const mode = opts.mode ?? 'import';
  const where = opts.where ?? 'JWK';
  if (!isObject(value)) throw new AppError('KEY_INVALID', `${where}: expected a JSON object, got ${typeName(value)}.`);
  const kty = optString(value, 'kty', where);
  const alg = optString(value, 'alg', where);
  const ids = kidJku(value, where);
  let k: Uint8Array | undefined;
  let x: Uint8Array | undefined;
  let d: Uint8Array | undefined;
  try {
    switch (kty) {
      case 'oct': {
        if (alg === undefined || alg === '') throw new AppError('KEY_INVALID', `${where}: an "oct" key needs an "alg" (aes128gcm, aes256gcm or chacha20poly1305).`);
        const jose = JOSE_OCT_ALGS[alg];
        const canonical = jose ?? normalizeMasterAlg(alg);
        if (canonical === undefined) throw new AppError('KEY_ALG_MISMATCH', `${where}: alg "${safeAlg(alg)}" is not a supported master-key algorithm (aes128gcm, aes256gcm, chacha20poly1305).`);
        k = bin(value, 'k', where, jose === undefined ? 'reference' : 'rfc');
        if (k === undefined) throw new AppError('KEY_INVALID', `${where}: an "oct" key needs its key bytes in "k".`);
        if (k.length !== MASTER_KEY_BYTES[canonical]) throw new AppError('KEY_INVALID', `${where}: a ${canonical} key must be ${MASTER_KEY_BYTES[canonical]} bytes, got ${k.length}.`);
        return makeMasterKey(canonical, k, { ...ids, algSpelling: jose === undefined ? alg : canonical });
      }
      case 'okp':
      case 'OKP': {
        const rfc = kty === 'OKP';
        if (rfc) {
          const crv = optString(value, 'crv', where);
          if (crv !== 'Ed25519') throw new AppError('KEY_ALG_MISMATCH', `${where}: an RFC 8037 "OKP" key must have crv "Ed25519".`);
          if (alg !== undefined && alg !== 'EdDSA' && normalizeSigningAlg(alg) === undefined) throw new AppError('KEY_ALG_MISMATCH', `${where}: alg must be "EdDSA" or "ed25519" for an Ed25519 key.`);
        } else {
          if (alg === undefined || alg === '') throw new AppError('KEY_INVALID', `${where}: an "okp" key needs "alg": "ed25519".`);
          if (normalizeSigningAlg(alg) === undefined) throw new AppError('KEY_ALG_MISMATCH', `${where}: alg "${safeAlg(alg)}" is not supported for an "okp" key; use ed25519.`);
        }
        x = bin(value, 'x', where, rfc ? 'rfc' : 'reference');
        d = bin(value, 'd', where, rfc ? 'rfc' : 'reference');
        if (x === undefined) throw new AppError('KEY_INVALID', `${where}: an Ed25519 key needs its public key in "x".`);
        if (mode === 'creation' && d === undefined) throw new AppError('KEY_INVALID', `${where}: a signing key used to write files needs both "d" and "x".`);
        return makeSigningKey({ publicKey: x, ...(d === undefined ? {} : { seed: d }) }, { ...ids, algSpelling: rfc ? 'ed25519' : alg });
      }
      case undefined:
        throw new AppError('KEY_INVALID', `${where}: missing "kty" (expected "oct" or "okp").`);
      default:
        throw new AppError('KEY_INVALID', `${where}: unsupported kty (expected "oct" or "okp", lowercase; or RFC 8037 "OKP").`);
    }
  } finally {
    k?.fill(0);
    d?.fill(0);
  }
}

/** Only short, plain alg names are echoed back; anything else is described by length. */
function safeAlg(alg: string): string {
  return /^[A-Za-z0-9_-]{1,32}$/.test(alg) ? alg : `(${alg.length} characters)`;
}

/** Parses JSON text holding a single JWK (has `kty`) or a JWK Set (`{"keys":[…]}`), like the reference providers. */
export function parseJwkOrSet(text: string, opts: { mode?: JwkMode; where?: string } = {}): KeyMaterial[] {
  const where = opts.where ?? 'key file';
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new AppError('KEY_INVALID', `${where}: not valid JSON. Expected a JWK or a JWK Set {"keys":[…]}.`);
  }
  if (isObject(doc) && doc.kty === undefined && Array.isArray(doc.keys)) {
    return doc.keys.map((k, i) => parseJwk(k, { ...opts, where: `${where}, key ${i + 1}` }));
  }
  return [parseJwk(doc, { ...opts, where })];
}

/**
 * The reference dialect of one key as a plain object, fields in the order the reference's own examples use:
 * `kty, alg, kid, jku, k` or `kty, alg, kid, jku, x, d`. Secret fields appear only with `includeSecret`.
 */
export function toReferenceJwk(key: KeyMaterial, opts: { includeSecret: boolean }): Record<string, string> {
  const out: Record<string, string> = { kty: key.kind === 'master' ? 'oct' : 'okp', alg: key.algSpelling };
  if (key.kid !== undefined) out.kid = key.kid;
  if (key.jku !== undefined) out.jku = key.jku;
  if (key.kind === 'master') {
    if (opts.includeSecret) out.k = toB64std(key.key);
  } else {
    out.x = toB64std(key.publicKey);
    if (opts.includeSecret && key.seed !== undefined) out.d = toB64std(key.seed);
  }
  return out;
}

export function serializeJwk(key: KeyMaterial, opts: { includeSecret: boolean }): string {
  return JSON.stringify(toReferenceJwk(key, opts));
}

export function serializeJwkSet(keys: readonly KeyMaterial[], opts: { includeSecret: boolean }): string {
  return JSON.stringify({ keys: keys.map((k) => toReferenceJwk(k, opts)) });
}

// ---------------------------------------------------------------------------------------------------------------
// §4.2 Python config dictionaries: `key`/`k`, `public`/`x`, `private`/`d`, all b64std; kty ignored.

/**
 * Parses the reference's config-form key dict. Unlike the reference (W-8) a missing key is an error, never a
 * silently generated random key.
 */
export function parseConfigKey(value: unknown, kind: 'master', where?: string): MasterKey;
export function parseConfigKey(value: unknown, kind: 'signing', where?: string): SigningKey;
export function parseConfigKey(value: unknown, kind: 'master' | 'signing', where = 'key config'): KeyMaterial {
  if (!isObject(value)) throw new AppError('KEY_INVALID', `${where}: expected a JSON object, got ${typeName(value)}.`);
  const ids = kidJku(value, where);
  const alg = optString(value, 'alg', where);
  let k: Uint8Array | undefined;
  let d: Uint8Array | undefined;
  try {
    if (kind === 'master') {
      const canonical = normalizeMasterAlg(alg ?? 'aes256gcm');
      if (canonical === undefined) throw new AppError('KEY_ALG_MISMATCH', `${where}: alg "${safeAlg(alg ?? '')}" is not a supported master-key algorithm.`);
      if (value.key !== undefined && value.k !== undefined) throw new AppError('KEY_INVALID', `${where}: give the key in "key" or "k", not both.`);
      k = bin(value, value.key !== undefined ? 'key' : 'k', where, 'reference');
      if (k === undefined) throw new AppError('KEY_INVALID', `${where}: no key bytes ("key" or "k"). Model Vault never generates a key silently; run "model-vault keys new" first.`);
      return makeMasterKey(canonical, k, { ...ids, algSpelling: alg ?? canonical });
    }
    if (normalizeSigningAlg(alg ?? 'ed25519') === undefined) throw new AppError('KEY_ALG_MISMATCH', `${where}: alg must be ed25519 for a signing key.`);
    const x = bin(value, value.public !== undefined ? 'public' : 'x', where, 'reference');
    d = bin(value, value.private !== undefined ? 'private' : 'd', where, 'reference');
    if (x === undefined && d === undefined) throw new AppError('KEY_INVALID', `${where}: no signing key ("public"/"x" or "private"/"d"). Model Vault never generates a key silently.`);
    return makeSigningKey({ ...(x === undefined ? {} : { publicKey: x }), ...(d === undefined ? {} : { seed: d }) }, { ...ids, algSpelling: alg ?? 'ed25519' });
  } finally {
    k?.fill(0);
    d?.fill(0);
  }
}
