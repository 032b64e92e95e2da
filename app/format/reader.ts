/**
 * The model reader core, over a `ByteSource` port (a file in app/node, bytes in memory). Load order (spec §5.3
 * with our fixes): structure → reserved keys → crypto metadata → signature against trusted keys (W-3, before any
 * key lookup) → policy → master key by the header's kid, alg must match (W-6) → DEK unwrap → lazy data, where
 * every decryption error raises (W-5) and plaintext tensors are checked against signed digests (W-4).
 */
import { isArrayValue } from './json.ts';
import { AppError, BugError } from '../errors.ts';
import { nobleAead, type AeadBackend } from '../crypto/aead.ts';
import { wipe } from '../crypto/bytes.ts';
import { createSha256, toHex } from '../crypto/sha256.ts';
import { compareCodePoints } from './canonical-json.ts';
import {
  CRYPTO_KEYS_KEY, DIGESTS_KEY, ENCRYPTION_KEY, MANIFEST_KEY, POLICY_KEY, RESERVED_CRYPTO_KEYS, SIGNATURE_KEY,
  parseCryptoKeys, parseDigests, parseEncryption, parsePolicy, parseSignature,
  type CryptoKeys, type EncryptionEntry, type KeyDescriptor, type PolicyTexts,
} from './crypto-metadata.ts';
import { checkMasterKey, checkVerifyKey, keyFingerprint, type MasterKey, type VerifyKey } from './keys.ts';
import { enforcePolicy, type PolicyOptions, type PolicyOutcome } from './policy.ts';
import { PREFIX_BYTES, parseHeader, readHeaderLength, type SafetensorsHeader, type TensorInfo } from './safetensors.ts';
import { findSigner, signedMessage } from './signing.ts';
import { chunksCovering, decryptChunks, decryptTensor, unwrapDek, type TensorCipherParams } from './tensor-cipher.ts';
import type { Dtype } from './dtype.ts';

/** Random-access bytes: a file (app/node) or a buffer. `read` must return exactly `length` bytes or throw IO_ERROR. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  if (!(bytes instanceof Uint8Array)) throw new AppError('VALIDATION', 'Source must be a Uint8Array.');
  return {
    size: bytes.length,
    read(offset: number, length: number): Promise<Uint8Array> {
      if (offset < 0 || length < 0 || offset + length > bytes.length) return Promise.reject(new AppError('IO_ERROR', 'Read beyond the end of the data.'));
      return Promise.resolve(bytes.subarray(offset, offset + length));
    },
  };
}

export const SIGNATURE_FAILED_MESSAGE = 'Signature verification failed: the file was modified or was not signed by a trusted key. Obtain a fresh copy or check the trusted signer keys.';

/** The crypto part of a parsed header, before any verification. */
export interface CryptoHeader {
  readonly keys: CryptoKeys;
  readonly entries: ReadonlyMap<string, EncryptionEntry>;
  readonly policy: PolicyTexts;
  readonly signature: Uint8Array;
  readonly signedMessage: Uint8Array;
}

export interface ModelHeader {
  readonly header: SafetensorsHeader;
  /** null for a plain file. */
  readonly crypto: CryptoHeader | null;
  /** Reserved crypto keys present although `__encryption__` is absent (a stripped, downgraded file: W-2). */
  readonly strippedCrypto: boolean;
  readonly digests: ReadonlyMap<string, string> | null;
  readonly manifestText: string | null;
}

/** Parses and structurally validates everything in the header; verifies nothing cryptographic. */
export function parseModelHeader(headerBytes: Uint8Array, fileLength: number | undefined): ModelHeader {
  const header = parseHeader(headerBytes, fileLength);
  const md = header.metadata;
  const names = new Set(header.tensors.map((t) => t.name));
  const digestsText = md?.get(DIGESTS_KEY);
  const digests = digestsText === undefined ? null : parseDigests(digestsText, names);
  const manifestText = md?.get(MANIFEST_KEY) ?? null;
  if (md === null || !md.has(ENCRYPTION_KEY)) {
    const strippedCrypto = md !== null && RESERVED_CRYPTO_KEYS.some((k) => md.has(k));
    return Object.freeze({ header, crypto: null, strippedCrypto, digests, manifestText });
  }
  const keysText = md.get(CRYPTO_KEYS_KEY);
  if (keysText === undefined) throw new AppError('CRYPTO_METADATA_INVALID', 'The file is encrypted but lacks __crypto_keys__.');
  const sigText = md.get(SIGNATURE_KEY);
  if (sigText === undefined) throw new AppError('SIGNATURE_MISSING', 'The file is encrypted but not signed (no __signature__). Obtain a signed copy from the publisher.');
  const policyText = md.get(POLICY_KEY);
  if (policyText === undefined) throw new AppError('POLICY_INVALID', 'The file is encrypted but lacks its policy (__policy__).');
  const keys = parseCryptoKeys(keysText);
  const signature = parseSignature(sigText);
  const policy = parsePolicy(policyText);
  const lengths = new Map(header.tensors.map((t) => [t.name, t.end - t.begin]));
  const entries = parseEncryption(md.get(ENCRYPTION_KEY) as string, keys, lengths);
  return Object.freeze({ header, crypto: Object.freeze({ keys, entries, policy, signature, signedMessage: signedMessage(md, header.tensors) }), strippedCrypto: false, digests, manifestText });
}

export type MasterKeyResolver = (descriptor: KeyDescriptor) => MasterKey | undefined | Promise<MasterKey | undefined>;

export interface OpenOptions extends PolicyOptions {
  /** Master keys, matched by the header's enc kid (or the only key when the header has no kid), or a resolver. */
  readonly masterKeys?: readonly MasterKey[] | MasterKeyResolver;
  /** Pinned Ed25519 keys of publishers we trust. The file's signature must verify with one of them. */
  readonly trustedSigners?: readonly VerifyKey[];
  /** Refuse plain (unsigned) files as well. */
  readonly requireSigned?: boolean;
  /** Explicit opt-out of W-2: accept stripped or unverifiable files. Never the default. */
  readonly allowUnsigned?: boolean;
  /** Open without a master key: metadata and plaintext tensors only; encrypted reads fail with KEY_NOT_FOUND. */
  readonly withoutMasterKey?: boolean;
  readonly aead?: AeadBackend;
  /** Optional parallel decryptor for whole encrypted tensors (app/node's worker pool); must authenticate every chunk. */
  readonly bulkDecrypt?: BulkDecrypt;
  /** Optional parallel reader for whole plaintext tensors (app/node's worker pool). */
  readonly bulkRead?: BulkRead;
  /** Tensors of at least this many bytes go through `bulkDecrypt` / `bulkRead` (default 1 MiB). */
  readonly bulkMinBytes?: number;
}

export const DEFAULT_BULK_MIN_BYTES = 1024 * 1024;

/**
 * Decrypts a whole non-empty encrypted tensor (v1: one message with `entry.iv`/`entry.tag`; v2: every chunk) whose
 * ciphertext is at absolute `offset` (length `byteLength`) in the source, reading it itself (so a file-backed adapter
 * can spread reads and decryption over threads). Must authenticate every chunk before returning, must never return
 * partially decrypted data, and fails with DECRYPT_FAILED like `decryptTensor`.
 */
export type BulkDecrypt = (params: TensorCipherParams, dek: Uint8Array, entry: EncryptionEntry, offset: number, byteLength: number) => Promise<Uint8Array>;

/** Reads a whole plaintext tensor at absolute `offset`; with `digest`, also returns the SHA-256 of exactly those bytes. */
export type BulkRead = (offset: number, byteLength: number, digest: boolean) => Promise<{ readonly data: Uint8Array; readonly sha256: Uint8Array | null }>;

export interface SignerInfo {
  readonly kid?: string;
  readonly fingerprint: string;
}

export interface TensorView {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly bigint[];
  readonly byteLength: number;
  readonly encrypted: boolean;
  /** A plaintext tensor covered by neither encryption nor a signed digest (reference-made partial files). */
  readonly unauthenticated: boolean;
}

export interface Tensor {
  readonly dtype: Dtype;
  readonly shape: readonly bigint[];
  readonly data: Uint8Array;
}

export interface ModelHandle {
  readonly encrypted: boolean;
  readonly signer: SignerInfo | null;
  readonly policy: PolicyOutcome | null;
  readonly parsed: ModelHeader;
  /** Tensor names sorted by code point. */
  keys(): string[];
  /** Tensor names in data order. */
  offsetKeys(): string[];
  /** User metadata: keys not starting with `__`. */
  metadata(): ReadonlyMap<string, string>;
  /** Keys starting with `__` (crypto fields, digests, manifest). */
  reservedMetadata(): ReadonlyMap<string, string>;
  info(name: string): TensorView;
  getTensor(name: string): Promise<Tensor>;
  /** Plaintext bytes [start, end) of a tensor; for v2 only the covering chunks are read and decrypted. */
  getSlice(name: string, start: number, end: number): Promise<Uint8Array>;
  /** Reads and checks every tensor (decryption and digests). */
  verifyAll(): Promise<void>;
  close(): Promise<void>;
}

async function resolveMasterKey(descriptor: KeyDescriptor, option: OpenOptions['masterKeys']): Promise<MasterKey | undefined> {
  if (option === undefined) return undefined;
  if (typeof option === 'function') return option(descriptor);
  if (!isArrayValue(option)) throw new AppError('VALIDATION', 'masterKeys must be an array or a function.');
  const candidates = descriptor.kid === undefined ? option : option.filter((k) => k.kid === descriptor.kid);
  if (candidates.length === 0 && descriptor.kid !== undefined && option.length === 1 && option[0]?.kid === undefined) return option[0];
  return candidates.length >= 1 ? candidates[0] : undefined;
}

function digestMismatch(): AppError {
  return new AppError('DIGEST_MISMATCH', 'A tensor does not match its signed digest: the file was modified. Obtain a fresh copy.');
}

/** Opens a model over a byte source, verifying per the load order above. */
export async function openModelSource(source: ByteSource, options: OpenOptions = {}): Promise<ModelHandle> {
  if (typeof options !== 'object' || options === null) throw new AppError('VALIDATION', 'Options must be an object.');
  const prefix = await source.read(0, Math.min(PREFIX_BYTES, source.size));
  const n = readHeaderLength(prefix, source.size);
  const parsed = parseModelHeader(await source.read(PREFIX_BYTES, n), source.size);
  const { header, crypto } = parsed;
  const aead = options.aead ?? nobleAead;
  let signer: SignerInfo | null = null;
  let policyOutcome: PolicyOutcome | null = null;
  const deks = new Map<string, Uint8Array>();

  if (crypto === null) {
    if (parsed.strippedCrypto && options.allowUnsigned !== true) throw new AppError('SIGNATURE_MISSING', 'The file carries CryptoTensors fields but no __encryption__: it was stripped or downgraded. Refusing to load it.');
    if (options.requireSigned === true) throw new AppError('SIGNATURE_MISSING', 'The file is not signed, and a signed file is required.');
  } else {
    const trusted = options.trustedSigners ?? [];
    if (!isArrayValue(trusted)) throw new AppError('VALIDATION', 'trustedSigners must be an array.');
    for (const k of trusted) checkVerifyKey(k);
    if (trusted.length === 0) {
      if (options.allowUnsigned !== true) throw new AppError('SIGNER_UNTRUSTED', 'No trusted signer key was given, so the file signature cannot be checked. Add the publisher key to your trusted signers.');
    } else {
      const k = findSigner(crypto.signature, crypto.signedMessage, trusted);
      if (k === undefined) throw new AppError('BAD_SIGNATURE', SIGNATURE_FAILED_MESSAGE);
      signer = Object.freeze({ ...(k.kid === undefined ? {} : { kid: k.kid }), fingerprint: keyFingerprint(k.publicKey) });
    }
    policyOutcome = await enforcePolicy(crypto.policy, options);
    if (options.withoutMasterKey !== true) {
      const mk = await resolveMasterKey(crypto.keys.enc, options.masterKeys);
      if (mk === undefined) throw new AppError('KEY_NOT_FOUND', 'No master key matches this file (enc kid). Import the key or choose another.');
      const keyAlg = checkMasterKey(mk);
      if (keyAlg !== crypto.keys.alg) throw new AppError('KEY_ALG_MISMATCH', `The master key is for ${keyAlg} but the file uses ${crypto.keys.alg}.`);
      try {
        for (const [name, entry] of crypto.entries) deks.set(name, unwrapDek(aead, crypto.keys.alg, mk.key, entry));
      } catch (e) {
        for (const d of deks.values()) wipe(d);
        throw e;
      }
    }
  }

  const params: TensorCipherParams | null = crypto === null ? null : { alg: crypto.keys.alg, chunked: crypto.keys.chunked, chunkSize: crypto.keys.chunkSize };
  const bulkMin = options.bulkMinBytes ?? DEFAULT_BULK_MIN_BYTES;
  if (typeof bulkMin !== 'number' || !(bulkMin >= 0)) throw new AppError('VALIDATION', 'bulkMinBytes must be a non-negative number.');
  const verifiedPlain = new Set<string>();
  let closed = false;

  function tensorInfo(name: string): TensorInfo {
    if (closed) throw new AppError('VALIDATION', 'The model handle is closed.');
    if (typeof name !== 'string') throw new AppError('VALIDATION', 'Tensor name must be a string.');
    const t = header.byName.get(name);
    if (t === undefined) throw new AppError('NOT_FOUND', 'No tensor of that name in the file.');
    return t;
  }

  function dekFor(name: string): Uint8Array {
    const dek = deks.get(name);
    if (dek === undefined) throw new AppError('KEY_NOT_FOUND', 'The model was opened without its master key, so encrypted tensors cannot be read.');
    return dek;
  }

  async function readPlain(t: TensorInfo): Promise<Uint8Array> {
    const len = t.end - t.begin;
    const want = parsed.digests?.get(t.name);
    let data: Uint8Array;
    let got: Uint8Array | null = null;
    if (options.bulkRead !== undefined && len > 0 && len >= bulkMin) {
      ({ data, sha256: got } = await options.bulkRead(header.dataStart + t.begin, len, want !== undefined));
      if (data.length !== len || (want !== undefined && got === null)) throw new BugError('bulkRead: wrong result shape');
    } else {
      data = await source.read(header.dataStart + t.begin, len);
      if (want !== undefined) got = createSha256().update(data).digest();
    }
    if (want !== undefined) {
      if (got === null || toHex(got) !== want) throw digestMismatch();
      verifiedPlain.add(t.name);
    }
    return data;
  }

  async function getWhole(t: TensorInfo): Promise<Uint8Array> {
    const entry = crypto?.entries.get(t.name);
    if (entry === undefined || params === null) return readPlain(t);
    const len = t.end - t.begin;
    if (options.bulkDecrypt !== undefined && len > 0 && len >= bulkMin) return options.bulkDecrypt(params, dekFor(t.name), entry, header.dataStart + t.begin, len);
    const ct = await source.read(header.dataStart + t.begin, len);
    return decryptTensor(aead, params, dekFor(t.name), entry, ct);
  }

  const handle: ModelHandle = {
    encrypted: crypto !== null,
    signer,
    policy: policyOutcome,
    parsed,
    keys: () => header.tensors.map((t) => t.name).sort(compareCodePoints),
    offsetKeys: () => header.tensors.map((t) => t.name),
    metadata: () => new Map([...(header.metadata ?? new Map<string, string>())].filter(([k]) => !k.startsWith('__'))),
    reservedMetadata: () => new Map([...(header.metadata ?? new Map<string, string>())].filter(([k]) => k.startsWith('__'))),
    info(name: string): TensorView {
      const t = tensorInfo(name);
      const encrypted = crypto?.entries.has(name) === true;
      return Object.freeze({ name, dtype: t.dtype, shape: t.shape, byteLength: t.end - t.begin, encrypted, unauthenticated: !encrypted && parsed.digests?.has(name) !== true });
    },
    async getTensor(name: string): Promise<Tensor> {
      const t = tensorInfo(name);
      return { dtype: t.dtype, shape: t.shape, data: await getWhole(t) };
    },
    async getSlice(name: string, start: number, end: number): Promise<Uint8Array> {
      const t = tensorInfo(name);
      const len = t.end - t.begin;
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > len) throw new AppError('VALIDATION', `Slice [${String(start)}, ${String(end)}) is outside the tensor (${len} bytes).`);
      const entry = crypto?.entries.get(name);
      if (entry === undefined || params === null) {
        if (parsed.digests?.has(name) === true && !verifiedPlain.has(name)) return (await readPlain(t)).slice(start, end);
        return source.read(header.dataStart + t.begin + start, end - start);
      }
      if (!params.chunked || len === 0) return (await getWhole(t)).slice(start, end);
      const { first, last } = chunksCovering(len, params.chunkSize, start, end);
      if (first === last) return new Uint8Array(0);
      const byteStart = first * params.chunkSize;
      const byteEnd = Math.min(len, last * params.chunkSize);
      const ct = await source.read(header.dataStart + t.begin + byteStart, byteEnd - byteStart);
      const pt = decryptChunks(aead, params, dekFor(name), entry, len, first, ct);
      return pt.subarray(start - byteStart, end - byteStart);
    },
    async verifyAll(): Promise<void> {
      for (const t of header.tensors) {
        const data = await getWhole(t);
        if (crypto?.entries.has(t.name) === true) wipe(data);
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const d of deks.values()) wipe(d);
      deks.clear();
      await source.close?.();
    },
  };
  return Object.freeze(handle);
}

export function openModelBytes(bytes: Uint8Array, options: OpenOptions = {}): Promise<ModelHandle> {
  return openModelSource(bytesSource(bytes), options);
}

