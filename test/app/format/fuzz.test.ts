/**
 * Fuzz: mutated headers and whole files into the parser and the full reader. Only our typed errors (AppError) may
 * come out: no crash, hang (each case is timed) or unbounded allocation (inputs are bounded; the parser allocates
 * in proportion to its input). Case count from MV_FUZZ_CASES (default 100000), seed from MV_FUZZ_SEED.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError } from '../../../app/errors.ts';
import { utf8 } from '../../../app/crypto/bytes.ts';
import { openModelBytes, parseModelHeader } from '../../../app/format/reader.ts';
import { PREFIX_BYTES, readHeaderLength, serializeSafetensors } from '../../../app/format/safetensors.ts';
import { encodeModel } from '../../../app/format/writer.ts';
import { MASTER_256, SIGNER, detBytes } from './helpers.ts';

const CASES = Number(process.env.MV_FUZZ_CASES ?? 100_000);
const SEED = Number(process.env.MV_FUZZ_SEED ?? 0x5eed);
/** One in FULL_EVERY cases also runs the full reader (signature, policy, unwrap, decrypt), which costs ~1 ms. */
const FULL_EVERY = 4;
const CASE_BUDGET_MS = 2000;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const KEYS = { masterKeys: [MASTER_256], trustedSigners: [SIGNER] };

function seeds(): Uint8Array[] {
  const tensors = [
    { name: 'a', dtype: 'F32' as const, shape: [4, 4], data: detBytes('a', 64) },
    { name: 'b', dtype: 'U8' as const, shape: [33], data: detBytes('b', 33) },
    { name: 'e', dtype: 'F16' as const, shape: [0, 2], data: new Uint8Array(0) },
    { name: 'f4', dtype: 'F4' as const, shape: [2, 2], data: detBytes('f4', 2) },
  ];
  return [
    serializeSafetensors(tensors, new Map([['format', 'pt'], ['é', '😀']])),
    encodeModel(tensors, { masterKey: MASTER_256, signingKey: SIGNER, chunkSize: 16 }).bytes,
    encodeModel(tensors, { masterKey: MASTER_256, signingKey: SIGNER, version: 1, encrypt: ['a', 'e'] }).bytes,
    encodeModel(tensors, { masterKey: { alg: 'chacha20poly1305', kid: 'ct-enc', key: MASTER_256.key }, signingKey: SIGNER, chunkSize: 7, encrypt: /^[ab]$/ }).bytes,
  ];
}

const TOKENS = ['{', '}', '[', ']', ',', ':', '"', '\\', '\\u', '\\ud800', '0', '-0', '1e2', '1.0', '18446744073709551616', '18446744073709551615', 'null', 'true', '"__metadata__"', '"dtype"', '"shape"', '"data_offsets"', '"F4"', '"F8_E4M3FNUZ"', '"__encryption__"', '"__signature__"', '"chunk_size"', ' ', '\n', '\u0000', '\uFEFF', '😀'];

function mutate(file: Uint8Array, r: () => number): Uint8Array {
  let out: Uint8Array = file.slice();
  const n = out.length >= 8 ? readLen(out) : 0;
  const headerEnd = Math.min(out.length, PREFIX_BYTES + n);
  const steps = 1 + (r() % 4);
  for (let s = 0; s < steps; s++) {
    const kind = r() % 10;
    const pos = out.length === 0 ? 0 : r() % out.length;
    const hpos = headerEnd > PREFIX_BYTES ? PREFIX_BYTES + (r() % (headerEnd - PREFIX_BYTES)) : pos;
    switch (kind) {
      case 0: // bit flip anywhere
        if (out.length > 0) out[pos] = (out[pos] as number) ^ (1 << (r() % 8));
        break;
      case 1: // bit flip in the header
        if (out.length > hpos) out[hpos] = (out[hpos] as number) ^ (1 << (r() % 8));
        break;
      case 2: { // splice a JSON token into the header, fixing the length prefix
        const tok = utf8(TOKENS[r() % TOKENS.length] as string);
        const del = r() % 4;
        out = fixLen(concat(out.subarray(0, hpos), tok, out.subarray(Math.min(out.length, hpos + del))), tok.length - del, hpos);
        break;
      }
      case 3: // truncate
        out = out.subarray(0, r() % (out.length + 1));
        break;
      case 4: // extend
        out = concat(out, new Uint8Array(1 + (r() % 16)).map(() => r() & 0xff));
        break;
      case 5: { // random length prefix
        if (out.length >= 8) {
          const choices = [r() % (out.length + 2), 0xffffffff, 100_000_001, n + 1, n - 1, 0];
          new DataView(out.buffer, out.byteOffset).setBigUint64(0, BigInt(Math.max(0, choices[r() % choices.length] as number)), true);
        }
        break;
      }
      case 6: { // duplicate a header slice elsewhere in the header
        const len = 1 + (r() % 24);
        const slice = out.slice(hpos, Math.min(headerEnd, hpos + len));
        const at = PREFIX_BYTES + (r() % Math.max(1, headerEnd - PREFIX_BYTES));
        out = fixLen(concat(out.subarray(0, at), slice, out.subarray(at)), slice.length, at);
        break;
      }
      case 7: // replace a digit in the header
        for (let i = hpos; i < headerEnd; i++) if ((out[i] as number) >= 0x30 && (out[i] as number) <= 0x39) { out[i] = 0x30 + (r() % 10); break; }
        break;
      case 8: // random bytes
        out = new Uint8Array(r() % 64).map(() => r() & 0xff);
        break;
      default: // swap two bytes in the header
        if (out.length > hpos) {
          const j = PREFIX_BYTES + (r() % Math.max(1, headerEnd - PREFIX_BYTES));
          if (j < out.length) [out[hpos], out[j]] = [out[j] as number, out[hpos] as number];
        }
    }
  }
  return out;
}

function readLen(b: Uint8Array): number {
  const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  return v > 1_000_000_000n ? 0 : Number(v);
}

function fixLen(b: Uint8Array, delta: number, at: number): Uint8Array {
  if (b.length < 8 || at < PREFIX_BYTES) return b;
  const n = readLen(b);
  if (at <= PREFIX_BYTES + n) new DataView(b.buffer, b.byteOffset).setBigUint64(0, BigInt(Math.max(0, n + delta)), true);
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

void test(`fuzz: ${CASES} mutated files yield only typed errors (seed ${SEED})`, async () => {
  const r = rng(SEED);
  const base = seeds();
  let accepted = 0;
  let full = 0;
  for (let c = 0; c < CASES; c++) {
    const input = mutate(base[c % base.length] as Uint8Array, r);
    const t0 = performance.now();
    try {
      const n = readHeaderLength(input, input.length);
      parseModelHeader(input.subarray(PREFIX_BYTES, PREFIX_BYTES + n), input.length);
      if (c % FULL_EVERY === 0) {
        full++;
        const m = await openModelBytes(input, KEYS);
        await m.verifyAll();
      }
      accepted++;
    } catch (e) {
      if (!isAppError(e)) assert.fail(`case ${c} (seed ${SEED}): non-typed error ${String(e)}`);
    }
    const dt = performance.now() - t0;
    if (dt > CASE_BUDGET_MS) assert.fail(`case ${c} (seed ${SEED}) took ${dt.toFixed(0)} ms`);
  }
  assert.ok(full > 0);
  assert.ok(accepted < CASES);
});
