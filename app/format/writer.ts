/**
 * Writer core: plans an encrypted model (layout, selection, keys), builds the signed header, and encodes a whole
 * model in memory (tests, vectors, small files). The streaming Node writer reuses `planModel` and `buildHeader`.
 */
import { isArrayValue } from './json.ts';
import { AppError } from '../errors.ts';
import { nobleAead, type AeadAlg, type AeadBackend } from '../crypto/aead.ts';
import { aeadKeyBytes } from '../crypto/aead.ts';
import { wipe } from '../crypto/bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { createSha256, toHex } from '../crypto/sha256.ts';
import {
  CRYPTO_KEYS_KEY, DEFAULT_CHUNK_SIZE, DIGESTS_KEY, ENCRYPTION_KEY, MANIFEST_KEY, POLICY_KEY, SIGNATURE_KEY,
  cryptoKeysText, digestsText, encryptionText, policyText,
  type EncryptionEntry, type KeyDescriptor, type PolicyTexts,
} from './crypto-metadata.ts';
import { checkMasterKey, checkSigningKey, type MasterKey, type SigningKey } from './keys.ts';
import { toB64std } from '../crypto/encoding.ts';
import { canonicalHeaderText, encodeHeader, hasOffsetTies, layoutTensors, type LaidOutTensor, type TensorSpec, type TensorWithData } from './safetensors.ts';
import { signMessage, signedMessage } from './signing.ts';
import { chunkCount, drawBaseIv, encryptTensor, wrapDek } from './tensor-cipher.ts';
import { NONCE_BYTES } from '../crypto/aead.ts';

export type EncryptSelection = 'all' | readonly string[] | RegExp | ((name: string) => boolean);

export interface EncryptOptions {
  readonly masterKey: MasterKey;
  readonly signingKey: SigningKey;
  readonly version?: 1 | 2;
  /** v2 chunk size in bytes (default 2 MiB). */
  readonly chunkSize?: number;
  readonly encrypt?: EncryptSelection;
  readonly policy?: Partial<PolicyTexts>;
  /** User metadata; reserved `__crypto_keys__`/`__encryption__`/`__policy__`/`__signature__`/`__ct_*__` are replaced. */
  readonly metadata?: ReadonlyMap<string, string>;
  /** Add `__ct_digests__` for unencrypted tensors (W-4). Default true. */
  readonly digests?: boolean;
  /** Our signed folder manifest text (`__ct_manifest__`). */
  readonly manifestText?: string;
}

export interface ModelPlan {
  readonly alg: AeadAlg;
  readonly version: '1' | '2';
  readonly chunked: boolean;
  readonly chunkSize: number;
  readonly tensors: readonly LaidOutTensor[];
  readonly encrypted: ReadonlySet<string>;
  /** Warnings to show (e.g. W-1 ties the reference may fail to verify). */
  readonly warnings: readonly string[];
}

function selects(sel: EncryptSelection, name: string): boolean {
  if (sel === 'all') return true;
  if (isArrayValue(sel)) return (sel as readonly string[]).includes(name);
  if (sel instanceof RegExp) {
    sel.lastIndex = 0;
    return sel.test(name);
  }
  if (typeof sel === 'function') return sel(name);
  throw new AppError('VALIDATION', 'encrypt must be "all", a list of names, a RegExp or a predicate.');
}

/** Validates options and lays the tensors out; refuses a selection that matches nothing (W-8). */
export function planModel(specs: readonly TensorSpec[], options: EncryptOptions): ModelPlan {
  if (typeof options !== 'object' || options === null) throw new AppError('VALIDATION', 'Options must be an object.');
  const alg = checkMasterKey(options.masterKey);
  checkSigningKey(options.signingKey);
  const version = options.version ?? 2;
  if (version !== 1 && version !== 2) throw new AppError('VALIDATION', 'version must be 1 or 2.');
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new AppError('VALIDATION', 'chunkSize must be a positive integer.');
  if (version === 1 && options.chunkSize !== undefined) throw new AppError('VALIDATION', 'chunkSize applies to version 2 only.');
  const tensors = layoutTensors(specs, { avoidTies: true });
  const sel = options.encrypt ?? 'all';
  const encrypted = new Set(tensors.filter((t) => selects(sel, t.name)).map((t) => t.name));
  if (encrypted.size === 0) throw new AppError('VALIDATION', 'No tensor matches the encryption selection: the file would be plain and unsigned. Check the names or pattern.');
  const warnings: string[] = [];
  if (hasOffsetTies(tensors)) warnings.push('Several empty tensors share one offset: the reference reader (cryptotensors 0.2.3) may fail to verify this file at random (W-1).');
  for (const t of tensors) if (version === 2 && chunkCount(t.end - t.begin, chunkSize) > 0xffffffff) throw new AppError('LIMIT_EXCEEDED', 'A tensor has too many chunks: use a larger chunk size.');
  return Object.freeze({ alg, version: version === 1 ? '1' : '2', chunked: version === 2, chunkSize, tensors, encrypted, warnings: Object.freeze(warnings) });
}

function descriptor(kty: 'oct' | 'okp', alg: string, k: { readonly kid?: string; readonly jku?: string }): KeyDescriptor {
  return { kty, alg, ...(k.kid === undefined ? {} : { kid: k.kid }), ...(k.jku === undefined ? {} : { jku: k.jku }) };
}

export interface HeaderParts {
  readonly userMetadata?: ReadonlyMap<string, string>;
  readonly version: '1' | '2';
  /** Written when defined (always for v2). */
  readonly chunkSizeField: bigint | number | undefined;
  readonly encDescriptor: KeyDescriptor;
  readonly signingKey: SigningKey;
  readonly entries: ReadonlyMap<string, EncryptionEntry>;
  readonly policyText: string;
  /** Other reserved keys to keep or add (digests, manifest), by exact key. */
  readonly extraReserved?: ReadonlyMap<string, string>;
  /** Tensors in data order. */
  readonly tensors: readonly LaidOutTensor[];
}

const REPLACED = new Set([CRYPTO_KEYS_KEY, ENCRYPTION_KEY, POLICY_KEY, SIGNATURE_KEY]);

/** Builds and signs the header; returns prefix + padded header bytes. */
export function buildHeader(p: HeaderParts): Uint8Array {
  const m = new Map<string, string>();
  for (const [k, v] of p.userMetadata ?? []) {
    if (typeof k !== 'string' || typeof v !== 'string') throw new AppError('VALIDATION', 'Metadata keys and values must be strings.');
    if (!REPLACED.has(k)) m.set(k, v);
  }
  for (const [k, v] of p.extraReserved ?? []) m.set(k, v);
  m.set(CRYPTO_KEYS_KEY, cryptoKeysText(p.version, p.chunkSizeField, p.encDescriptor, descriptor('okp', 'ed25519', p.signingKey)));
  m.set(ENCRYPTION_KEY, encryptionText(p.entries));
  m.set(POLICY_KEY, p.policyText);
  const sig = signMessage(signedMessage(m, p.tensors), p.signingKey.seed);
  m.set(SIGNATURE_KEY, toB64std(sig));
  return encodeHeader(canonicalHeaderText(m, p.tensors));
}

/** Deterministic-test seam: where DEKs and nonces come from. Production uses the CSPRNG. */
export interface NonceSource {
  dek(name: string, length: number): Uint8Array;
  keyIv(name: string): Uint8Array;
  /** v1 iv, or v2 base_iv (must not overflow for `chunks`). */
  dataNonce(name: string, chunks: number): Uint8Array;
}

export const RANDOM_NONCES: NonceSource = Object.freeze({
  dek: (_name: string, length: number) => randomBytes(length),
  keyIv: () => randomBytes(NONCE_BYTES),
  dataNonce: (_name: string, chunks: number) => drawBaseIv(chunks),
});

export function extraReservedFor(options: EncryptOptions, plan: ModelPlan, plaintextDigests: ReadonlyMap<string, string>): Map<string, string> {
  const extra = new Map<string, string>();
  if (options.digests !== false) {
    const plain = new Map([...plaintextDigests].filter(([n]) => !plan.encrypted.has(n)));
    if (plain.size > 0) extra.set(DIGESTS_KEY, digestsText(plain));
  }
  if (options.manifestText !== undefined) extra.set(MANIFEST_KEY, options.manifestText);
  return extra;
}

export function userMetadataFor(options: EncryptOptions): Map<string, string> {
  const m = new Map(options.metadata ?? []);
  m.delete(DIGESTS_KEY);
  m.delete(MANIFEST_KEY);
  return m;
}

/** Encrypts and signs a whole model in memory. */
export function encodeModel(tensors: readonly TensorWithData[], options: EncryptOptions, seams: { aead?: AeadBackend; nonces?: NonceSource } = {}): { bytes: Uint8Array; plan: ModelPlan } {
  const plan = planModel(tensors, options);
  const aead = seams.aead ?? nobleAead;
  const nonces = seams.nonces ?? RANDOM_NONCES;
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const entries = new Map<string, EncryptionEntry>();
  const digests = new Map<string, string>();
  const body = new Uint8Array(plan.tensors.at(-1)?.end ?? 0);
  const params = { alg: plan.alg, chunked: plan.chunked, chunkSize: plan.chunkSize };
  for (const t of plan.tensors) {
    const data = byName.get(t.name)?.data;
    if (!(data instanceof Uint8Array) || data.length !== t.end - t.begin) throw new AppError('SHAPE_MISMATCH', 'Tensor data length does not match its shape and dtype.');
    if (!plan.encrypted.has(t.name)) {
      body.set(data, t.begin);
      digests.set(t.name, toHex(createSha256().update(data).digest()));
      continue;
    }
    const dek = nonces.dek(t.name, aeadKeyBytes(plan.alg));
    try {
      const nonce = nonces.dataNonce(t.name, plan.chunked ? chunkCount(data.length, plan.chunkSize) : 1);
      const { ciphertext, fields } = encryptTensor(aead, params, dek, data, nonce);
      body.set(ciphertext, t.begin);
      entries.set(t.name, { ...wrapDek(aead, plan.alg, options.masterKey.key, dek, nonces.keyIv(t.name)), ...fields });
    } finally {
      wipe(dek);
    }
  }
  const header = buildHeader({
    userMetadata: userMetadataFor(options),
    version: plan.version,
    chunkSizeField: plan.chunked ? plan.chunkSize : undefined,
    encDescriptor: descriptor('oct', options.masterKey.alg, options.masterKey),
    signingKey: options.signingKey,
    entries,
    policyText: policyText(options.policy),
    extraReserved: extraReservedFor(options, plan, digests),
    tensors: plan.tensors,
  });
  const out = new Uint8Array(header.length + body.length);
  out.set(header, 0);
  out.set(body, header.length);
  return { bytes: out, plan };
}

export function encDescriptorFor(key: MasterKey): KeyDescriptor {
  return descriptor('oct', key.alg, key);
}

