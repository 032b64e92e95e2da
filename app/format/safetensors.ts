/**
 * Safetensors container (spec §1): header length prefix, strict header parse, validation R-V1…R-V7 in the
 * reference's order, and the canonical writer (tensor order, sorted metadata, space padding) that is byte-identical
 * to the cryptotensors 0.2.3 fork.
 */
import { AppError } from '../errors.ts';
import { fromUtf8, utf8 } from '../crypto/bytes.ts';
import { cjString, cjStringMap, compareCodePoints } from './canonical-json.ts';
import { dtypeBits, dtypeOrder, isDtype, type Dtype } from './dtype.ts';
import { JsonSyntaxError, U64_MAX, jsonU64, parseJson, type JsonValue, isArrayValue } from './json.ts';

export const PREFIX_BYTES = 8;
/** MAX_HEADER_SIZE of the reference: decimal 10^8. */
export const MAX_HEADER_BYTES = 100_000_000;
export const METADATA_KEY = '__metadata__';

export interface TensorInfo {
  readonly name: string;
  readonly dtype: Dtype;
  /** Exact u64 dimensions. */
  readonly shape: readonly bigint[];
  /** Offsets relative to the data section. */
  readonly begin: number;
  readonly end: number;
  /** Position of the entry in the header text (tie-break for co-located empty tensors, W-1). */
  readonly textIndex: number;
}

export interface SafetensorsHeader {
  /** N: the header length in bytes (padding included). */
  readonly headerLength: number;
  /** 8 + N: where the data section starts in the file. */
  readonly dataStart: number;
  /** Total data section length (last tensor end). */
  readonly dataLength: number;
  /** `__metadata__`, or null when absent (or JSON null). */
  readonly metadata: ReadonlyMap<string, string> | null;
  /** Tensors in data order: by (begin, end), ties by order of appearance in the header text. */
  readonly tensors: readonly TensorInfo[];
  readonly byName: ReadonlyMap<string, TensorInfo>;
}

function fail(code: 'FORMAT_INVALID' | 'HEADER_TOO_LARGE' | 'HEADER_INVALID_JSON' | 'HEADER_DUPLICATE_KEY' | 'DTYPE_UNKNOWN' | 'OFFSETS_INVALID' | 'SHAPE_MISMATCH' | 'TRAILING_BYTES', message: string): never {
  throw new AppError(code, message);
}

/** R-V1…R-V3: reads N from the 8-byte prefix and checks it against the file length. */
export function readHeaderLength(prefix: Uint8Array, fileLength: number): number {
  if (!(prefix instanceof Uint8Array)) throw new AppError('VALIDATION', 'Header prefix must be a Uint8Array.');
  if (!Number.isSafeInteger(fileLength) || fileLength < 0) throw new AppError('VALIDATION', 'File length must be a non-negative safe integer.');
  if (fileLength < PREFIX_BYTES || prefix.length < PREFIX_BYTES) fail('FORMAT_INVALID', 'Not a safetensors file: it is shorter than the 8-byte header length prefix.');
  let n = 0n;
  for (let i = PREFIX_BYTES - 1; i >= 0; i--) n = (n << 8n) | BigInt(prefix[i] as number);
  if (n > BigInt(MAX_HEADER_BYTES)) fail('HEADER_TOO_LARGE', `Header length exceeds the ${MAX_HEADER_BYTES}-byte limit.`);
  const headerLength = Number(n);
  if (PREFIX_BYTES + headerLength > fileLength) fail('FORMAT_INVALID', 'Header length is larger than the file: the file is truncated or not safetensors.');
  return headerLength;
}

/** The header bytes (8-byte length prefix + header JSON) at the start of a whole file held in memory. */
export function headerBytesOf(file: Uint8Array): Uint8Array {
  return file.slice(0, PREFIX_BYTES + readHeaderLength(file.subarray(0, PREFIX_BYTES), file.length));
}

export function nelements(shape: readonly bigint[]): bigint | undefined {
  let n = 1n;
  for (const d of shape) {
    n *= d;
    if (n > U64_MAX) return undefined;
  }
  return n;
}

/** Byte length for shape×dtype with the reference's checks: undefined on overflow, -1n when not whole bytes. */
export function tensorByteLength(dtype: Dtype, shape: readonly bigint[]): bigint | undefined {
  const n = nelements(shape);
  if (n === undefined) return undefined;
  const bits = n * BigInt(dtypeBits(dtype));
  if (bits > U64_MAX) return undefined;
  if (bits % 8n !== 0n) return -1n;
  return bits / 8n;
}

function parseTensorEntry(name: string, v: JsonValue, textIndex: number): { name: string; dtype: Dtype; shape: bigint[]; begin: bigint; end: bigint; textIndex: number } {
  if (v.t !== 'obj') fail('HEADER_INVALID_JSON', 'A tensor entry in the header is not a JSON object.');
  let dtype: Dtype | undefined;
  let shape: bigint[] | undefined;
  let offsets: bigint[] | undefined;
  for (const [k, fv] of v.members) {
    if (k === 'dtype') {
      if (fv.t !== 'str') fail('HEADER_INVALID_JSON', 'A tensor dtype is not a string.');
      if (!isDtype(fv.v)) fail('DTYPE_UNKNOWN', 'A tensor has an unknown dtype.');
      dtype = fv.v;
    } else if (k === 'shape' || k === 'data_offsets') {
      if (fv.t !== 'arr') fail('HEADER_INVALID_JSON', `A tensor ${k} is not an array.`);
      const nums: bigint[] = [];
      for (const item of fv.items) {
        const n = jsonU64(item);
        if (n === undefined) fail('HEADER_INVALID_JSON', `A tensor ${k} holds something other than an unsigned 64-bit integer.`);
        nums.push(n);
      }
      if (k === 'shape') shape = nums;
      else {
        if (nums.length !== 2) fail('HEADER_INVALID_JSON', 'A tensor data_offsets does not have exactly 2 entries.');
        offsets = nums;
      }
    }
    // Unknown fields are ignored (as the reference does); they are outside the signature and never re-emitted.
  }
  if (dtype === undefined || shape === undefined || offsets === undefined) fail('HEADER_INVALID_JSON', 'A tensor entry lacks dtype, shape or data_offsets.');
  return { name, dtype, shape, begin: offsets[0] as bigint, end: offsets[1] as bigint, textIndex };
}

function isBom(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

/**
 * R-V4…R-V7: parses and validates the header bytes `[8, 8+N)`. `fileLength` is the whole file's length; pass
 * `undefined` to skip R-V7 (header-only parsing, as the reference's rewrap does).
 */
export function parseHeader(headerBytes: Uint8Array, fileLength: number | undefined): SafetensorsHeader {
  if (!(headerBytes instanceof Uint8Array)) throw new AppError('VALIDATION', 'Header must be a Uint8Array.');
  if (headerBytes.length > MAX_HEADER_BYTES) fail('HEADER_TOO_LARGE', `Header length exceeds the ${MAX_HEADER_BYTES}-byte limit.`);
  // TextDecoder silently drops a BOM; the reference rejects it.
  if (isBom(headerBytes)) fail('HEADER_INVALID_JSON', 'The header starts with a byte-order mark.');
  let text: string;
  try {
    text = fromUtf8(headerBytes);
  } catch {
    fail('HEADER_INVALID_JSON', 'The header is not valid UTF-8.');
  }
  let root: JsonValue;
  try {
    root = parseJson(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      if (e.kind === 'duplicate') fail('HEADER_DUPLICATE_KEY', 'The header has a duplicate JSON key.');
      fail('HEADER_INVALID_JSON', `The header is not valid JSON (${e.message}).`);
    }
    throw e;
  }
  if (root.t !== 'obj') fail('HEADER_INVALID_JSON', 'The header is not a JSON object.');

  let metadata: Map<string, string> | null = null;
  const raw: ReturnType<typeof parseTensorEntry>[] = [];
  let textIndex = 0;
  for (const [key, value] of root.members) {
    if (key === METADATA_KEY) {
      if (value.t === 'null') continue;
      if (value.t !== 'obj') fail('HEADER_INVALID_JSON', '__metadata__ is not an object.');
      metadata = new Map();
      for (const [mk, mv] of value.members) {
        if (mv.t !== 'str') fail('HEADER_INVALID_JSON', '__metadata__ holds a value that is not a string.');
        metadata.set(mk, mv.v);
      }
      continue;
    }
    raw.push(parseTensorEntry(key, value, textIndex++));
  }

  // R-V6, in offset order (stable, ties by text order).
  raw.sort((a, b) => (a.begin < b.begin ? -1 : a.begin > b.begin ? 1 : a.end < b.end ? -1 : a.end > b.end ? 1 : a.textIndex - b.textIndex));
  let expected = 0n;
  const tensors: TensorInfo[] = [];
  const byName = new Map<string, TensorInfo>();
  for (const t of raw) {
    if (t.begin !== expected || t.end < t.begin) fail('OFFSETS_INVALID', 'Tensor data_offsets have a gap, an overlap or a reversed range.');
    expected = t.end;
    const len = tensorByteLength(t.dtype, t.shape);
    if (len === undefined) fail('SHAPE_MISMATCH', 'A tensor shape overflows 64 bits.');
    if (len < 0n) fail('SHAPE_MISMATCH', 'A tensor of a sub-byte dtype does not fill whole bytes.');
    if (t.end - t.begin !== len) fail('SHAPE_MISMATCH', 'A tensor byte range does not match its shape and dtype.');
    const info: TensorInfo = Object.freeze({ name: t.name, dtype: t.dtype, shape: Object.freeze(t.shape), begin: Number(t.begin), end: Number(t.end), textIndex: t.textIndex });
    tensors.push(info);
    byName.set(t.name, info);
  }
  // Offsets are bounded by MAX_SAFE_INTEGER only through R-V7; check explicitly for header-only parsing.
  if (expected > BigInt(Number.MAX_SAFE_INTEGER)) fail('OFFSETS_INVALID', 'Tensor data_offsets are beyond any supported file size.');
  const headerLength = headerBytes.length;
  const dataLength = Number(expected);
  if (fileLength !== undefined) {
    const want = PREFIX_BYTES + headerLength + dataLength;
    if (want < fileLength) fail('TRAILING_BYTES', 'The file has bytes after the last tensor.');
    if (want > fileLength) fail('FORMAT_INVALID', 'The file is truncated: tensor data is missing.');
  }
  return Object.freeze({ headerLength, dataStart: PREFIX_BYTES + headerLength, dataLength, metadata, tensors: Object.freeze(tensors), byName });
}

/** Parses a whole in-memory safetensors file (header only; data stays in `file`). */
export function parseSafetensors(file: Uint8Array): SafetensorsHeader {
  if (!(file instanceof Uint8Array)) throw new AppError('VALIDATION', 'File must be a Uint8Array.');
  const n = readHeaderLength(file, file.length);
  return parseHeader(file.subarray(PREFIX_BYTES, PREFIX_BYTES + n), file.length);
}

// ---------------------------------------------------------------------------------------------------------------
// Writer

export interface TensorSpec {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly (number | bigint)[];
}

export interface LaidOutTensor {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly bigint[];
  readonly begin: number;
  readonly end: number;
}

function toShape(shape: readonly (number | bigint)[]): bigint[] {
  if (!isArrayValue(shape)) throw new AppError('VALIDATION', 'A tensor shape must be an array.');
  return shape.map((d) => {
    if (typeof d === 'bigint' && d >= 0n && d <= U64_MAX) return d;
    if (typeof d === 'number' && Number.isSafeInteger(d) && d >= 0) return BigInt(d);
    throw new AppError('VALIDATION', 'A tensor dimension must be an unsigned 64-bit integer.');
  });
}

/**
 * Lays tensors out as the reference writer does: dtype enum order descending, then name by UTF-8 bytes, offsets
 * contiguous from 0. With `avoidTies`, zero-byte tensors are moved so that no two share an offset where possible
 * (W-1), which keeps the reference's own verification deterministic.
 */
export function layoutTensors(specs: readonly TensorSpec[], options: { readonly avoidTies?: boolean } = {}): LaidOutTensor[] {
  if (!isArrayValue(specs)) throw new AppError('VALIDATION', 'Tensors must be an array.');
  const seen = new Set<string>();
  const items = specs.map((s) => {
    if (typeof s.name !== 'string') throw new AppError('VALIDATION', 'A tensor name must be a string.');
    if (s.name === METADATA_KEY) throw new AppError('VALIDATION', 'A tensor cannot be named __metadata__.');
    if (seen.has(s.name)) throw new AppError('VALIDATION', 'Two tensors have the same name.');
    seen.add(s.name);
    if (!isDtype(s.dtype)) throw new AppError('DTYPE_UNKNOWN', 'A tensor has an unknown dtype.');
    const shape = toShape(s.shape);
    const len = tensorByteLength(s.dtype, shape);
    if (len === undefined) throw new AppError('SHAPE_MISMATCH', 'A tensor shape overflows 64 bits.');
    if (len < 0n) throw new AppError('SHAPE_MISMATCH', 'A tensor of a sub-byte dtype does not fill whole bytes.');
    if (len > BigInt(Number.MAX_SAFE_INTEGER)) throw new AppError('SHAPE_MISMATCH', 'A tensor is too large.');
    return { name: s.name, dtype: s.dtype, shape, byteLength: Number(len) };
  });
  items.sort((a, b) => dtypeOrder(b.dtype) - dtypeOrder(a.dtype) || compareCodePoints(a.name, b.name));
  let ordered = items;
  if (options.avoidTies === true) {
    const empty = items.filter((t) => t.byteLength === 0);
    const full = items.filter((t) => t.byteLength > 0);
    if (empty.length >= 2) {
      // One empty tensor before each non-empty one, plus one at the very end: every offset is distinct.
      ordered = [];
      let e = 0;
      for (const t of full) {
        if (e < empty.length) ordered.push(empty[e++] as (typeof items)[number]);
        ordered.push(t);
      }
      while (e < empty.length) ordered.push(empty[e++] as (typeof items)[number]);
    }
  }
  let offset = 0;
  return ordered.map((t) => {
    const begin = offset;
    offset += t.byteLength;
    if (offset > Number.MAX_SAFE_INTEGER) throw new AppError('SHAPE_MISMATCH', 'The tensors are too large in total.');
    return Object.freeze({ name: t.name, dtype: t.dtype, shape: Object.freeze(t.shape), begin, end: offset });
  });
}

/** True when two or more tensors share identical (begin, end): the reference then verifies non-deterministically. */
export function hasOffsetTies(tensors: readonly { readonly begin: number; readonly end: number }[]): boolean {
  const seen = new Set<string>();
  for (const t of tensors) {
    const k = `${t.begin}:${t.end}`;
    if (seen.has(k)) return true;
    seen.add(k);
  }
  return false;
}

function tensorEntryText(t: { readonly name: string; readonly dtype: Dtype; readonly shape: readonly bigint[]; readonly begin: number; readonly end: number }): string {
  return `${cjString(t.name)}:{"dtype":${cjString(t.dtype)},"shape":[${t.shape.join(',')}],"data_offsets":[${t.begin},${t.end}]}`;
}

/**
 * The canonical header text: `__metadata__` first (keys by UTF-8 bytes) when present, then the tensors in the
 * given order. This is also the signed message H(M, T) of spec §5.1 when `metadata` excludes `__signature__`.
 */
export function canonicalHeaderText(metadata: ReadonlyMap<string, string> | null, tensors: readonly { readonly name: string; readonly dtype: Dtype; readonly shape: readonly bigint[]; readonly begin: number; readonly end: number }[]): string {
  const parts: string[] = [];
  if (metadata !== null) parts.push(`"__metadata__":${cjStringMap(metadata)}`);
  for (const t of tensors) parts.push(tensorEntryText(t));
  return '{' + parts.join(',') + '}';
}

/** Prefix + header text + space padding to a multiple of 8. */
export function encodeHeader(headerText: string): Uint8Array {
  const body = utf8(headerText);
  const padded = Math.ceil(body.length / 8) * 8;
  if (padded > MAX_HEADER_BYTES) throw new AppError('HEADER_TOO_LARGE', `The header would exceed the ${MAX_HEADER_BYTES}-byte limit.`);
  const out = new Uint8Array(PREFIX_BYTES + padded).fill(0x20, PREFIX_BYTES + body.length);
  let n = padded;
  for (let i = 0; i < PREFIX_BYTES; i++) {
    out[i] = n % 256;
    n = Math.floor(n / 256);
  }
  out.set(body, PREFIX_BYTES);
  return out;
}

export interface TensorWithData extends TensorSpec {
  readonly data: Uint8Array;
}

/** In-memory plain writer, byte-identical to the reference's `serialize`. */
export function serializeSafetensors(tensors: readonly TensorWithData[], metadata?: ReadonlyMap<string, string> | null): Uint8Array {
  const laid = layoutTensors(tensors);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const t of laid) {
    const data = byName.get(t.name)?.data;
    if (!(data instanceof Uint8Array)) throw new AppError('VALIDATION', 'Tensor data must be a Uint8Array.');
    if (data.length !== t.end - t.begin) throw new AppError('SHAPE_MISMATCH', 'Tensor data length does not match its shape and dtype.');
  }
  const header = encodeHeader(canonicalHeaderText(metadata ?? null, laid));
  const out = new Uint8Array(header.length + (laid.at(-1)?.end ?? 0));
  out.set(header, 0);
  for (const t of laid) out.set((byName.get(t.name) as TensorWithData).data, header.length + t.begin);
  return out;
}
