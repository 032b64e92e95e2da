/**
 * The decrypted view of one verified CryptoTensors file as a *plain safetensors* file: the header rewritten without
 * the reserved `__…__` metadata (crypto fields, digests, manifest), the tensors at the same data offsets, so the
 * data section is the original's with each tensor decrypted. Bytes are produced on read, chunk by chunk, through the
 * mount's shared ChunkCache; nothing is ever written to disk.
 */
import { AppError } from '../../errors.ts';
import type { ModelHandle } from '../../format/reader.ts';
import { canonicalHeaderText, encodeHeader, type TensorInfo } from '../../format/safetensors.ts';
import type { ChunkCache } from './chunk-cache.ts';

/** Plain tensors and v1 tensors are cut into units of this size for the cache (v2 tensors use the file's chunks). */
export const PLAIN_UNIT_BYTES = 1024 * 1024;

export interface PlainView {
  /** The plain safetensors file's length. */
  readonly size: number;
  /** Copies the plaintext bytes [offset, offset + out.length) of the view into `out`; returns how many were copied. */
  read(offset: number, out: Uint8Array): Promise<number>;
}

interface Span {
  readonly t: TensorInfo;
  /** Absolute start and end in the view. */
  readonly start: number;
  readonly end: number;
  /** Unit length for the cache. */
  readonly unit: number;
}

let viewCounter = 0;

export function plainViewOf(handle: ModelHandle, cache: ChunkCache): PlainView {
  const { header } = handle.parsed;
  const md = handle.metadata();
  const tensors = handle.offsetKeys().map((n) => header.byName.get(n) as TensorInfo);
  const headerBytes = encodeHeader(canonicalHeaderText(md.size === 0 ? null : md, tensors));
  const dataStart = headerBytes.length;
  const chunkSize = handle.parsed.crypto?.keys.chunked === true ? handle.parsed.crypto.keys.chunkSize : 0;
  const spans: Span[] = tensors
    .filter((t) => t.end > t.begin)
    .map((t) => {
      const encrypted = handle.info(t.name).encrypted;
      // v2: one cache unit per AEAD chunk (one decryption each); v1: the whole tensor is one AEAD message.
      const unit = encrypted ? (chunkSize > 0 ? chunkSize : t.end - t.begin) : PLAIN_UNIT_BYTES;
      return { t, start: dataStart + t.begin, end: dataStart + t.end, unit };
    });
  const size = dataStart + header.dataLength;
  const id = `v${String(++viewCounter)}`;

  function spanAt(offset: number): Span | undefined {
    let lo = 0;
    let hi = spans.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = spans[mid] as Span;
      if (offset < s.start) hi = mid - 1;
      else if (offset >= s.end) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  async function readSpan(s: Span, offset: number, out: Uint8Array, at: number, length: number): Promise<void> {
    let pos = offset - s.start;
    let written = 0;
    const len = s.t.end - s.t.begin;
    while (written < length) {
      const index = Math.floor(pos / s.unit);
      const unitStart = index * s.unit;
      const unitEnd = Math.min(len, unitStart + s.unit);
      const from = pos - unitStart;
      const n = Math.min(unitEnd - pos, length - written);
      const target = at + written;
      await cache.with(`${id}:${s.t.name}:${String(index)}`, unitEnd - unitStart, () => handle.getSlice(s.t.name, unitStart, unitEnd), (data) => {
        out.set(data.subarray(from, from + n), target);
      });
      written += n;
      pos += n;
    }
  }

  return {
    size,
    async read(offset, out) {
      if (!Number.isSafeInteger(offset) || offset < 0) throw new AppError('VALIDATION', 'Read offset must be a non-negative integer.');
      const end = Math.min(size, offset + out.length);
      let pos = offset;
      while (pos < end) {
        if (pos < dataStart) {
          const n = Math.min(end, dataStart) - pos;
          out.set(headerBytes.subarray(pos, pos + n), pos - offset);
          pos += n;
          continue;
        }
        const s = spanAt(pos);
        if (s === undefined) throw new AppError('FORMAT_INVALID', 'The data section has a gap: the file is malformed.');
        const n = Math.min(end, s.end) - pos;
        await readSpan(s, pos, out, pos - offset, n);
        pos += n;
      }
      return Math.max(0, end - offset);
    },
  };
}
