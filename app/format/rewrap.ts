/**
 * Rewrap (spec §4.5, W-10): re-wrap the same DEKs under a new master key with fresh key nonces, keep the data
 * section and every iv/tag/base_iv/tags, keep or replace the policy, keep our digests/manifest and user metadata,
 * and re-sign with the new (or same) signing key. The old file is fully verified first (signature, policy, unwrap).
 * Algorithms are compared after normalization; the algorithm itself cannot change (use reencrypt).
 */
import { AppError } from '../errors.ts';
import { nobleAead, NONCE_BYTES, type AeadBackend } from '../crypto/aead.ts';
import { wipe } from '../crypto/bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { DIGESTS_KEY, MANIFEST_KEY, policyText, type EncryptionEntry, type PolicyTexts } from './crypto-metadata.ts';
import { checkMasterKey, checkSigningKey, type MasterKey, type SigningKey } from './keys.ts';
import { enforcePolicy } from './policy.ts';
import { type ByteSource, type OpenOptions, openModelSource } from './reader.ts';
import { unwrapDek, wrapDek } from './tensor-cipher.ts';
import { buildHeader, encDescriptorFor } from './writer.ts';

export interface RewrapOptions {
  /** How to open the existing file (trusted signers, master keys, policy options). */
  readonly old: OpenOptions;
  /** New master key (same algorithm); default: keep the current one. */
  readonly masterKey?: MasterKey;
  /** The signing key for the new header (required: the header must be re-signed). */
  readonly signingKey: SigningKey;
  readonly policy?: Partial<PolicyTexts>;
  readonly aead?: AeadBackend;
}

/** Returns the new header (prefix + padded header); the data section after it is unchanged. */
export async function rewrapSource(source: ByteSource, options: RewrapOptions): Promise<{ header: Uint8Array; oldDataStart: number; dataLength: number }> {
  checkSigningKey(options.signingKey);
  const handle = await openModelSource(source, { ...options.old, withoutMasterKey: true });
  try {
    const { crypto, header } = handle.parsed;
    if (crypto === null) throw new AppError('VALIDATION', 'The file is not encrypted, so it cannot be rewrapped.');
    const aead = options.aead ?? nobleAead;
    const oldKey = await (async () => {
      const mk = options.old.masterKeys;
      if (mk === undefined) return undefined;
      if (typeof mk === 'function') return mk(crypto.keys.enc);
      return crypto.keys.enc.kid === undefined ? mk[0] : (mk.find((k) => k.kid === crypto.keys.enc.kid) ?? (mk.length === 1 && mk[0]?.kid === undefined ? mk[0] : undefined));
    })();
    if (oldKey === undefined) throw new AppError('KEY_NOT_FOUND', 'No master key matches this file (enc kid). Import the current key first.');
    if (checkMasterKey(oldKey) !== crypto.keys.alg) throw new AppError('KEY_ALG_MISMATCH', 'The current master key is for another algorithm than the file.');
    const newKey = options.masterKey ?? oldKey;
    if (checkMasterKey(newKey) !== crypto.keys.alg) throw new AppError('KEY_ALG_MISMATCH', `The new master key must use the file's algorithm (${crypto.keys.alg}); use reencrypt to change it.`);
    if (options.policy !== undefined) {
      // A new policy must be one we can enforce, so the result stays openable.
      await enforcePolicy({ local: options.policy.local ?? 'package model\nallow = true', remote: options.policy.remote ?? 'package model\nallow = true' }, options.old);
    }
    const entries = new Map<string, EncryptionEntry>();
    for (const [name, e] of crypto.entries) {
      const dek = unwrapDek(aead, crypto.keys.alg, oldKey.key, e);
      try {
        entries.set(name, { ...e, ...wrapDek(aead, crypto.keys.alg, newKey.key, dek, randomBytes(NONCE_BYTES)) });
      } finally {
        wipe(dek);
      }
    }
    const md = header.metadata ?? new Map<string, string>();
    const extra = new Map<string, string>();
    for (const k of [DIGESTS_KEY, MANIFEST_KEY]) {
      const v = md.get(k);
      if (v !== undefined) extra.set(k, v);
    }
    const keepPolicy = options.policy === undefined ? md.get('__policy__') : undefined;
    const newHeader = buildHeader({
      userMetadata: md,
      version: crypto.keys.version,
      chunkSizeField: crypto.keys.chunkSizeField ?? (crypto.keys.chunked ? crypto.keys.chunkSize : undefined),
      encDescriptor: encDescriptorFor(newKey),
      signingKey: options.signingKey,
      entries,
      policyText: keepPolicy ?? policyText(options.policy),
      extraReserved: extra,
      tensors: header.tensors,
    });
    return { header: newHeader, oldDataStart: header.dataStart, dataLength: header.dataLength };
  } finally {
    await handle.close();
  }
}
