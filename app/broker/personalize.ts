/**
 * Personalized headers (README §6): a subscriber's copy of a producer header, its DEKs rewrapped under the
 * subscriber master key and re-signed, using the codec's `rewrapSource` (spec §4.5). The broker holds headers only
 * (no data section), so this adapter presents a header as a byte source of the full file's size whose data bytes are
 * never read: the codec's rewrap reads only the prefix and the header.
 */
import { AppError } from '../errors.ts';
import { openModelSource, type ByteSource } from '../format/reader.ts';
import { rewrapSource } from '../format/rewrap.ts';
import { PREFIX_BYTES, parseHeader, readHeaderLength } from '../format/safetensors.ts';
import type { MasterKey, SigningKey, VerifyKey } from '../format/keys.ts';

export interface HeaderFacts {
  /** Normalized AEAD algorithm of the file. */
  readonly alg: 'aes128gcm' | 'aes256gcm' | 'chacha20poly1305';
  readonly encKid: string | undefined;
  /** The `remote` policy text (the release policy unless the producer gives one). */
  readonly remotePolicy: string;
  readonly tensors: number;
}

/** A header-only byte source: `header` is prefix + JSON + padding, exactly, with no data after it. */
export function headerOnlySource(header: Uint8Array): ByteSource {
  if (!(header instanceof Uint8Array) || header.length < PREFIX_BYTES) throw new AppError('FORMAT_INVALID', 'A published header must start with the 8-byte length prefix.');
  const n = readHeaderLength(header.subarray(0, PREFIX_BYTES), header.length);
  if (PREFIX_BYTES + n !== header.length) throw new AppError('TRAILING_BYTES', 'A published header must be exactly the prefix and the header JSON, with no tensor data after it.');
  const parsed = parseHeader(header.subarray(PREFIX_BYTES), undefined);
  const size = header.length + parsed.dataLength;
  return {
    size,
    read(offset: number, length: number): Promise<Uint8Array> {
      if (offset < 0 || length < 0 || offset + length > header.length) return Promise.reject(new AppError('IO_ERROR', 'Only the header of this model is held by the broker.'));
      return Promise.resolve(header.subarray(offset, offset + length));
    },
  };
}

/** Verifies a producer header (signature by `verifyKey`, every DEK unwraps under `masterKey`) and returns its facts. */
export async function inspectPublishedHeader(header: Uint8Array, masterKey: MasterKey, verifyKey: VerifyKey): Promise<HeaderFacts> {
  const handle = await openModelSource(headerOnlySource(header), { masterKeys: [masterKey], trustedSigners: [verifyKey], ignorePolicy: true, requireSigned: true });
  try {
    const crypto = handle.parsed.crypto;
    if (crypto === null) throw new AppError('VALIDATION', 'A published header must be encrypted (CryptoTensors); plain files need no broker.');
    return { alg: crypto.keys.alg, encKid: crypto.keys.enc.kid, remotePolicy: crypto.policy.remote, tensors: handle.parsed.header.tensors.length };
  } finally {
    await handle.close();
  }
}

/** The subscriber's personalized header: same data section, DEKs rewrapped to `subscriberKey`, re-signed. */
export async function personalizeHeader(header: Uint8Array, p: { producerKey: MasterKey; producerVerify: VerifyKey; signingKey: SigningKey; subscriberKey: MasterKey }): Promise<Uint8Array> {
  const r = await rewrapSource(headerOnlySource(header), {
    old: { masterKeys: [p.producerKey], trustedSigners: [p.producerVerify], ignorePolicy: true, requireSigned: true },
    masterKey: p.subscriberKey,
    signingKey: p.signingKey,
  });
  return r.header;
}
