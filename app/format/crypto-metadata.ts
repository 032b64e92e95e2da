/**
 * The four reserved CryptoTensors metadata keys (spec §2): `__crypto_keys__`, `__encryption__`, `__policy__` and
 * `__signature__`, each a string holding inner JSON. Parsers are strict (duplicate keys rejected, exact lengths);
 * emitters produce exactly the reference writer's text.
 */
import { AppError } from '../errors.ts';
import { NONCE_BYTES, TAG_BYTES, aeadKeyBytes, normalizeAeadAlg, type AeadAlg } from '../crypto/aead.ts';
import { ED25519_SIGNATURE_BYTES } from '../crypto/ed25519.ts';
import { fromB64std, toB64std } from '../crypto/encoding.ts';
import { cjString, compareCodePoints } from './canonical-json.ts';
import { JsonSyntaxError, getMember, jsonU64, parseJson, type JsonObject, type JsonValue } from './json.ts';

export const CRYPTO_KEYS_KEY = '__crypto_keys__';
export const ENCRYPTION_KEY = '__encryption__';
export const POLICY_KEY = '__policy__';
export const SIGNATURE_KEY = '__signature__';
/** Our addition (W-4): SHA-256 of every unencrypted tensor, inside the signed header, ignored by the reference. */
export const DIGESTS_KEY = '__ct_digests__';
/** Our addition: the signed manifest of a model folder's other files. */
export const MANIFEST_KEY = '__ct_manifest__';
export const RESERVED_CRYPTO_KEYS = [CRYPTO_KEYS_KEY, ENCRYPTION_KEY, POLICY_KEY, SIGNATURE_KEY] as const;

export const DEFAULT_CHUNK_SIZE = 2_097_152;
export const DEFAULT_POLICY_TEXT = 'package model\nallow = true';

function bad(message: string): never {
  throw new AppError('CRYPTO_METADATA_INVALID', message);
}

function parseInner(text: string, what: string): JsonObject {
  let v: JsonValue;
  try {
    v = parseJson(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) bad(`${what} is not valid JSON${e.kind === 'duplicate' ? ' (duplicate key)' : ''}.`);
    throw e;
  }
  if (v.t !== 'obj') bad(`${what} is not a JSON object.`);
  return v;
}

function optString(obj: JsonObject, field: string, what: string): string | undefined {
  const v = getMember(obj, field);
  if (v === undefined) return undefined;
  if (v.t !== 'str') bad(`${what}.${field} is not a string.`);
  return v.v;
}

// ---------------------------------------------------------------------------------------------------------------
// __crypto_keys__

export interface KeyDescriptor {
  readonly kty: 'oct' | 'okp';
  readonly alg: string;
  readonly kid?: string;
  readonly jku?: string;
}

export interface CryptoKeys {
  readonly version: '1' | '2';
  /** The header's `chunk_size` when present (it selects chunked decryption, whatever the version). */
  readonly chunkSizeField: bigint | undefined;
  /** Chunked (v2) decryption iff `chunk_size` is present or the version is 2. */
  readonly chunked: boolean;
  /** Effective chunk size for chunked decryption (capped at MAX_SAFE_INTEGER: any larger value means one chunk). */
  readonly chunkSize: number;
  readonly enc: KeyDescriptor;
  readonly sign: KeyDescriptor;
  /** The normalized data algorithm from the header (W-6: the header decides, keys must match). */
  readonly alg: AeadAlg;
}

function parseDescriptor(obj: JsonObject, field: 'enc' | 'sign'): KeyDescriptor {
  const v = getMember(obj, field);
  if (v === undefined || v.t !== 'obj') bad(`__crypto_keys__.${field} is missing or not an object.`);
  const what = `__crypto_keys__.${field}`;
  const kty = optString(v, 'kty', what);
  const alg = optString(v, 'alg', what);
  const kid = optString(v, 'kid', what);
  const jku = optString(v, 'jku', what);
  if (field === 'enc' && kty !== 'oct') bad(`${what}.kty must be "oct".`);
  if (field === 'sign' && kty !== 'okp') bad(`${what}.kty must be "okp".`);
  if (alg === undefined || alg === '') bad(`${what}.alg is missing.`);
  if (field === 'enc' && normalizeAeadAlg(alg) === undefined) bad(`${what}.alg is not a supported AEAD algorithm.`);
  if (field === 'sign' && alg.toLowerCase() !== 'ed25519') bad(`${what}.alg must be ed25519.`);
  // A header never supplies key material (W-3, spec §5.5): its presence is an attack or a broken writer.
  for (const m of ['k', 'x', 'd']) if (getMember(v, m) !== undefined) bad(`${what} carries key material, which a file must never supply.`);
  return Object.freeze({ kty: field === 'enc' ? 'oct' : 'okp', alg, ...(kid === undefined ? {} : { kid }), ...(jku === undefined ? {} : { jku }) });
}

export function parseCryptoKeys(text: string): CryptoKeys {
  const obj = parseInner(text, '__crypto_keys__');
  const version = getMember(obj, 'version');
  if (version === undefined || version.t !== 'str') bad('__crypto_keys__.version is missing or not a string.');
  if (version.v !== '1' && version.v !== '2') bad('__crypto_keys__.version is not supported (expected "1" or "2").');
  const cs = getMember(obj, 'chunk_size');
  let chunkSizeField: bigint | undefined;
  if (cs !== undefined) {
    chunkSizeField = jsonU64(cs);
    if (chunkSizeField === undefined || chunkSizeField === 0n) bad('__crypto_keys__.chunk_size must be a positive integer.');
  }
  const chunked = chunkSizeField !== undefined || version.v === '2';
  const chunkSize = chunkSizeField === undefined ? DEFAULT_CHUNK_SIZE : chunkSizeField > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(chunkSizeField);
  const enc = parseDescriptor(obj, 'enc');
  const sign = parseDescriptor(obj, 'sign');
  return Object.freeze({ version: version.v, chunkSizeField, chunked, chunkSize, enc, sign, alg: normalizeAeadAlg(enc.alg) as AeadAlg });
}

function descriptorText(d: KeyDescriptor): string {
  // Key-sorted: alg, jku, kid, kty.
  const parts = [`"alg":${cjString(d.alg)}`];
  if (d.jku !== undefined) parts.push(`"jku":${cjString(d.jku)}`);
  if (d.kid !== undefined) parts.push(`"kid":${cjString(d.kid)}`);
  parts.push(`"kty":${cjString(d.kty)}`);
  return '{' + parts.join(',') + '}';
}

/** The reference writer's `__crypto_keys__` text (key-sorted compact JSON; `chunk_size` only when given). */
export function cryptoKeysText(version: '1' | '2', chunkSize: bigint | number | undefined, enc: KeyDescriptor, sign: KeyDescriptor): string {
  const parts: string[] = [];
  if (chunkSize !== undefined) parts.push(`"chunk_size":${String(chunkSize)}`);
  parts.push(`"enc":${descriptorText(enc)}`, `"sign":${descriptorText(sign)}`, `"version":${cjString(version)}`);
  return '{' + parts.join(',') + '}';
}

// ---------------------------------------------------------------------------------------------------------------
// __encryption__

export interface EncryptionEntry {
  readonly wrappedKey: Uint8Array;
  readonly keyIv: Uint8Array;
  readonly keyTag: Uint8Array;
  /** v1: 12 bytes, or empty for an empty tensor. */
  readonly iv?: Uint8Array;
  readonly tag?: Uint8Array;
  /** v2 (chunked). */
  readonly baseIv?: Uint8Array;
  readonly tags?: Uint8Array;
}

function b64Field(obj: JsonObject, field: string, required: boolean): Uint8Array | undefined {
  const v = getMember(obj, field);
  if (v === undefined) {
    if (required) bad(`An __encryption__ entry lacks ${field}.`);
    return undefined;
  }
  if (v.t !== 'str') bad(`An __encryption__ entry's ${field} is not a string.`);
  const bytes = fromB64std(v.v);
  if (bytes === undefined) bad(`An __encryption__ entry's ${field} is not canonical padded base64.`);
  return bytes;
}

/**
 * Parses `__encryption__` for the given mode and checks every length exactly: wrapped DEK = key length, 12-byte
 * nonces, 16-byte tags, `tags` = 16·max(1, chunks). `tensorLengths` gives each tensor's byte length; an entry for a
 * tensor that does not exist is rejected.
 */
export function parseEncryption(text: string, keys: CryptoKeys, tensorLengths: ReadonlyMap<string, number>): ReadonlyMap<string, EncryptionEntry> {
  const obj = parseInner(text, '__encryption__');
  const out = new Map<string, EncryptionEntry>();
  const keyLen = aeadKeyBytes(keys.alg);
  for (const [name, v] of obj.members) {
    if (v.t !== 'obj') bad('An __encryption__ entry is not an object.');
    const len = tensorLengths.get(name);
    if (len === undefined) bad('__encryption__ names a tensor that is not in the file.');
    const wrappedKey = b64Field(v, 'wrapped_key', true) as Uint8Array;
    const keyIv = b64Field(v, 'key_iv', true) as Uint8Array;
    const keyTag = b64Field(v, 'key_tag', true) as Uint8Array;
    if (wrappedKey.length !== keyLen || keyIv.length !== NONCE_BYTES || keyTag.length !== TAG_BYTES) bad('An __encryption__ entry has a wrapped key, key_iv or key_tag of the wrong length.');
    if (keys.chunked) {
      const baseIv = b64Field(v, 'base_iv', true) as Uint8Array;
      const tags = b64Field(v, 'tags', true) as Uint8Array;
      const chunks = Math.max(1, Math.ceil(len / keys.chunkSize));
      if (baseIv.length !== NONCE_BYTES || tags.length !== TAG_BYTES * chunks) bad('An __encryption__ entry has a base_iv or tags of the wrong length.');
      out.set(name, Object.freeze({ wrappedKey, keyIv, keyTag, baseIv, tags }));
    } else {
      const iv = b64Field(v, 'iv', true) as Uint8Array;
      const tag = b64Field(v, 'tag', true) as Uint8Array;
      const emptyForm = len === 0 && iv.length === 0 && tag.length === 0;
      if (!emptyForm && (iv.length !== NONCE_BYTES || tag.length !== TAG_BYTES)) bad('An __encryption__ entry has an iv or tag of the wrong length.');
      out.set(name, Object.freeze({ wrappedKey, keyIv, keyTag, iv, tag }));
    }
  }
  return out;
}

/** The reference writer's `__encryption__` text: names by UTF-8 bytes, fields in fixed order. */
export function encryptionText(entries: ReadonlyMap<string, EncryptionEntry>): string {
  const names = [...entries.keys()].sort(compareCodePoints);
  const parts = names.map((name) => {
    const e = entries.get(name) as EncryptionEntry;
    const f = [`"wrapped_key":"${toB64std(e.wrappedKey)}"`, `"key_iv":"${toB64std(e.keyIv)}"`, `"key_tag":"${toB64std(e.keyTag)}"`];
    if (e.baseIv !== undefined && e.tags !== undefined) f.push(`"base_iv":"${toB64std(e.baseIv)}"`, `"tags":"${toB64std(e.tags)}"`);
    else if (e.iv !== undefined && e.tag !== undefined) f.push(`"iv":"${toB64std(e.iv)}"`, `"tag":"${toB64std(e.tag)}"`);
    else throw new AppError('CRYPTO_METADATA_INVALID', 'An encryption entry has neither v1 nor v2 fields.');
    return `${cjString(name)}:{${f.join(',')}}`;
  });
  return '{' + parts.join(',') + '}';
}

// ---------------------------------------------------------------------------------------------------------------
// __policy__

export interface PolicyTexts {
  readonly local: string;
  readonly remote: string;
}

export function parsePolicy(text: string): PolicyTexts {
  let obj: JsonObject;
  try {
    obj = parseInner(text, '__policy__');
  } catch (e) {
    throw new AppError('POLICY_INVALID', 'The file policy (__policy__) is not valid JSON.', { cause: e });
  }
  const local = getMember(obj, 'local');
  const remote = getMember(obj, 'remote');
  if (local?.t !== 'str' || remote?.t !== 'str') throw new AppError('POLICY_INVALID', 'The file policy (__policy__) lacks its local or remote text.');
  return Object.freeze({ local: local.v, remote: remote.v });
}

export function policyText(policy: Partial<PolicyTexts> | undefined): string {
  const local = policy?.local ?? DEFAULT_POLICY_TEXT;
  const remote = policy?.remote ?? DEFAULT_POLICY_TEXT;
  if (typeof local !== 'string' || typeof remote !== 'string') throw new AppError('POLICY_INVALID', 'Policy texts must be strings.');
  return `{"local":${cjString(local)},"remote":${cjString(remote)}}`;
}

// ---------------------------------------------------------------------------------------------------------------
// __signature__

export function parseSignature(text: string): Uint8Array {
  const sig = fromB64std(text);
  if (sig?.length !== ED25519_SIGNATURE_BYTES) throw new AppError('BAD_SIGNATURE', 'Signature verification failed: the file was modified or was not signed by a trusted key.');
  return sig;
}

// ---------------------------------------------------------------------------------------------------------------
// __ct_digests__ (W-4)

export function digestsText(digestsHex: ReadonlyMap<string, string>): string {
  const names = [...digestsHex.keys()].sort(compareCodePoints);
  return '{"sha256":{' + names.map((n) => `${cjString(n)}:${cjString(digestsHex.get(n) as string)}`).join(',') + '}}';
}

export function parseDigests(text: string, tensorNames: ReadonlySet<string>): ReadonlyMap<string, string> {
  const obj = parseInner(text, '__ct_digests__');
  const inner = getMember(obj, 'sha256');
  if (inner?.t !== 'obj') bad('__ct_digests__ lacks its sha256 map.');
  const out = new Map<string, string>();
  for (const [name, v] of inner.members) {
    if (v.t !== 'str' || !/^[0-9a-f]{64}$/.test(v.v)) bad('__ct_digests__ holds a malformed digest.');
    if (!tensorNames.has(name)) bad('__ct_digests__ names a tensor that is not in the file.');
    out.set(name, v.v);
  }
  return out;
}
