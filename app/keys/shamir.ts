/**
 * M-of-N secret sharing of a master key (Shamir 1979) over GF(2^8), with a commitment and per-share MACs so that a
 * tampered or foreign share is detected instead of silently rebuilding a wrong key. The scheme is explained in
 * `app/keys/README.md` ("Splitting a master key").
 *
 * Field: GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1 (0x11b). Each secret byte s is the constant term of
 * its own random polynomial of degree M−1; share i (x = 1..N) holds the polynomial values at x = i. Any M shares
 * rebuild s by Lagrange interpolation at x = 0; M−1 shares are consistent with every possible s (information-
 * theoretic secrecy), so they reveal nothing.
 *
 * Integrity (Shamir alone has none: a changed share just rebuilds a different secret):
 * - macKey = HKDF-SHA256(ikm = secret, salt = setId, info = "model-vault/shamir/v1/mac"), 32 bytes;
 * - commitment = HMAC-SHA256(macKey, "commitment" ‖ header) is stored in every share;
 * - each share carries mac_i = HMAC-SHA256(macKey, "share" ‖ header ‖ i ‖ value_i).
 * On combine we rebuild from M shares, accept only if the commitment matches, then check every share's MAC and
 * report the bad ones. If the first M shares fail, other M-subsets are tried, so one bad share among more than M is
 * survived and named. The commitment is a keyed hash of the secret: fine for uniformly random keys (our only use),
 * not for low-entropy secrets.
 *
 * Multiplication is done bitwise (no lookup tables) to avoid secret-dependent memory access.
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, ctEqual, fromUtf8, utf8, wipe } from '../crypto/bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { AppError } from '../errors.ts';
import { fromB64url, toB64url } from '../crypto/encoding.ts';

export const SHAMIR_VERSION = 1;
export const SET_ID_BYTES = 16;
export const MAX_SECRET_BYTES = 64;
export const MAX_META_BYTES = 200;
const MAC_BYTES = 32;
const SHARE_PREFIX = 'mvshare1-';
/** Upper bound on the M-subsets tried when some shares are bad, so a huge N cannot stall us. */
const MAX_SUBSETS = 5000;

export interface ShamirShare {
  readonly version: typeof SHAMIR_VERSION;
  /** Random per split; all shares of one split carry the same id. */
  readonly setId: Uint8Array;
  readonly threshold: number;
  readonly total: number;
  /** The x coordinate, 1..total. */
  readonly index: number;
  /** Non-secret description of what was split (e.g. `{"alg":"aes256gcm","kid":"…"}`), covered by the MACs. */
  readonly meta: string;
  readonly value: Uint8Array;
  readonly commitment: Uint8Array;
  readonly mac: Uint8Array;
}

export interface CombineResult {
  readonly secret: Uint8Array;
  readonly meta: string;
  /** Indices of the shares that verified. */
  readonly verified: readonly number[];
  /** Indices of shares that failed their MAC (tampered, or from another split with the same header). */
  readonly rejected: readonly number[];
}

// ---------------------------------------------------------------------------------------------------------------
// GF(2^8)

export function gfMul(a: number, b: number): number {
  let p = 0;
  for (let i = 0; i < 8; i++) {
    p ^= -(b & 1) & a; // add a when the low bit of b is set, without a branch
    const hi = -((a >> 7) & 1) & 0x1b;
    a = ((a << 1) & 0xff) ^ hi;
    b >>= 1;
  }
  return p & 0xff;
}

/** a^254 = a^-1 for a ≠ 0 (Fermat); 0 maps to 0. */
export function gfInv(a: number): number {
  let result = 1;
  let base = a;
  let e = 254;
  while (e > 0) {
    if (e & 1) result = gfMul(result, base);
    base = gfMul(base, base);
    e >>= 1;
  }
  return result;
}

function evalPoly(coeffs: Uint8Array, x: number): number {
  let y = 0;
  for (let i = coeffs.length - 1; i >= 0; i--) y = gfMul(y, x) ^ (coeffs[i] as number);
  return y;
}

/** Lagrange interpolation at x = 0 for each byte position. */
function interpolateAtZero(xs: readonly number[], ys: readonly Uint8Array[], length: number): Uint8Array {
  const weights = xs.map((xi, i) => {
    let num = 1;
    let den = 1;
    xs.forEach((xj, j) => {
      if (i === j) return;
      num = gfMul(num, xj); // (0 - xj) = xj in characteristic 2
      den = gfMul(den, xi ^ xj);
    });
    return gfMul(num, gfInv(den));
  });
  const out = new Uint8Array(length);
  for (let b = 0; b < length; b++) {
    let acc = 0;
    for (let i = 0; i < xs.length; i++) acc ^= gfMul(weights[i] as number, (ys[i] as Uint8Array)[b] as number);
    out[b] = acc;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// MACs

function header(setId: Uint8Array, threshold: number, total: number, length: number, meta: string): Uint8Array {
  const metaBytes = utf8(meta);
  return concatBytes(utf8('model-vault/shamir/v1'), new Uint8Array([0, SHAMIR_VERSION, threshold, total, length, metaBytes.length]), setId, metaBytes);
}

function deriveMacKey(secret: Uint8Array, setId: Uint8Array): Uint8Array {
  return hkdf(sha256, secret, setId, utf8('model-vault/shamir/v1/mac'), 32);
}

function shareMac(macKey: Uint8Array, hdr: Uint8Array, index: number, value: Uint8Array): Uint8Array {
  return hmac(sha256, macKey, concatBytes(utf8('share'), hdr, new Uint8Array([index]), value));
}

function commitmentOf(macKey: Uint8Array, hdr: Uint8Array): Uint8Array {
  return hmac(sha256, macKey, concatBytes(utf8('commitment'), hdr));
}

// ---------------------------------------------------------------------------------------------------------------
// split / combine

function checkParams(threshold: number, total: number): void {
  if (!Number.isInteger(threshold) || !Number.isInteger(total) || threshold < 2 || total < threshold || total > 255) {
    throw new AppError('VALIDATION', `Invalid M-of-N (${String(threshold)} of ${String(total)}): need 2 ≤ M ≤ N ≤ 255.`);
  }
}

/** Splits `secret` (1..64 bytes) into `total` shares of which any `threshold` rebuild it. */
export function splitSecret(secret: Uint8Array, threshold: number, total: number, meta = ''): ShamirShare[] {
  if (!(secret instanceof Uint8Array) || secret.length < 1 || secret.length > MAX_SECRET_BYTES) {
    throw new AppError('VALIDATION', `The secret to split must be 1-${MAX_SECRET_BYTES} bytes.`);
  }
  checkParams(threshold, total);
  if (utf8(meta).length > MAX_META_BYTES) throw new AppError('VALIDATION', `Share description is too long (max ${MAX_META_BYTES} bytes).`);
  const setId = randomBytes(SET_ID_BYTES);
  const hdr = header(setId, threshold, total, secret.length, meta);
  const macKey = deriveMacKey(secret, setId);
  const commitment = commitmentOf(macKey, hdr);
  const values = Array.from({ length: total }, () => new Uint8Array(secret.length));
  const coeffs = new Uint8Array(threshold);
  try {
    for (let b = 0; b < secret.length; b++) {
      coeffs[0] = secret[b] as number;
      coeffs.set(randomBytes(threshold - 1), 1);
      for (let i = 0; i < total; i++) (values[i] as Uint8Array)[b] = evalPoly(coeffs, i + 1);
    }
    return values.map((value, i) =>
      Object.freeze({ version: SHAMIR_VERSION, setId, threshold, total, index: i + 1, meta, value, commitment, mac: shareMac(macKey, hdr, i + 1, value) }),
    );
  } finally {
    wipe(coeffs, macKey);
  }
}

function* subsets(n: number, k: number): Generator<number[]> {
  const idx = Array.from({ length: k }, (_, i) => i);
  for (;;) {
    yield idx.slice();
    let i = k - 1;
    while (i >= 0 && idx[i] === n - k + i) i--;
    if (i < 0) return;
    idx[i] = (idx[i] as number) + 1;
    for (let j = i + 1; j < k; j++) idx[j] = (idx[j - 1] as number) + 1;
  }
}

/**
 * Rebuilds the secret from at least `threshold` shares of one split. Throws `KEY_INVALID` if the shares are too
 * few, from different splits, or no M of them rebuild a secret matching the commitment (tampering).
 */
export function combineShares(shares: readonly ShamirShare[]): CombineResult {
  if (shares.length === 0) throw new AppError('VALIDATION', 'No shares given.');
  const first = shares[0] as ShamirShare;
  const seen = new Set<number>();
  for (const s of shares) {
    if (
      !ctEqual(s.setId, first.setId) ||
      s.threshold !== first.threshold ||
      s.total !== first.total ||
      s.meta !== first.meta ||
      s.value.length !== first.value.length ||
      !ctEqual(s.commitment, first.commitment)
    ) {
      throw new AppError('KEY_INVALID', `Share #${s.index} does not belong to the same split as share #${first.index} (or one of them was altered). Use shares from one split only.`);
    }
    if (seen.has(s.index)) throw new AppError('KEY_INVALID', `Share #${s.index} was given twice. Give ${first.threshold} different shares.`);
    seen.add(s.index);
  }
  if (shares.length < first.threshold) {
    throw new AppError('KEY_INVALID', `This key was split ${first.threshold}-of-${first.total}: ${first.threshold} shares are needed, got ${shares.length}.`);
  }
  const hdr = header(first.setId, first.threshold, first.total, first.value.length, first.meta);
  let tried = 0;
  for (const subset of subsets(shares.length, first.threshold)) {
    if (++tried > MAX_SUBSETS) break;
    const picked = subset.map((i) => shares[i] as ShamirShare);
    const secret = interpolateAtZero(
      picked.map((s) => s.index),
      picked.map((s) => s.value),
      first.value.length,
    );
    const macKey = deriveMacKey(secret, first.setId);
    try {
      if (!ctEqual(commitmentOf(macKey, hdr), first.commitment)) {
        wipe(secret);
        continue;
      }
      const verified: number[] = [];
      const rejected: number[] = [];
      for (const s of shares) (ctEqual(shareMac(macKey, hdr, s.index, s.value), s.mac) ? verified : rejected).push(s.index);
      // The commitment matched, so the secret is right even if a share's MAC field itself was altered.
      return { secret, meta: first.meta, verified, rejected };
    } finally {
      wipe(macKey);
    }
  }
  throw new AppError('KEY_INVALID', `The ${shares.length} shares do not rebuild the key: at least one share was altered or comes from another split. Collect the original shares again.`);
}

// ---------------------------------------------------------------------------------------------------------------
// text form: mvshare1-<base64url(version | setId | M | N | index | len | metaLen | meta | value | commitment | mac)>

export function encodeShare(s: ShamirShare): string {
  const metaBytes = utf8(s.meta);
  const body = concatBytes(new Uint8Array([s.version]), s.setId, new Uint8Array([s.threshold, s.total, s.index, s.value.length, metaBytes.length]), metaBytes, s.value, s.commitment, s.mac);
  return SHARE_PREFIX + toB64url(body);
}

export function decodeShare(text: string): ShamirShare {
  const bad = (what: string): AppError => new AppError('KEY_INVALID', `Not a valid Model Vault key share (${what}). Copy the whole "${SHARE_PREFIX}…" line.`);
  const trimmed = text.trim();
  if (!trimmed.startsWith(SHARE_PREFIX)) throw bad('wrong prefix');
  const body = fromB64url(trimmed.slice(SHARE_PREFIX.length));
  if (body === undefined) throw bad('not base64url');
  const fixed = 1 + SET_ID_BYTES + 5;
  if (body.length < fixed) throw bad('too short');
  const version = body[0] as number;
  if (version !== SHAMIR_VERSION) throw bad(`unsupported version ${version}`);
  const setId = body.slice(1, 1 + SET_ID_BYTES);
  const [threshold, total, index, length, metaLen] = Array.from(body.subarray(1 + SET_ID_BYTES, fixed)) as [number, number, number, number, number];
  if (body.length !== fixed + metaLen + length + 2 * MAC_BYTES) throw bad('wrong length');
  if (threshold < 2 || total < threshold || index < 1 || index > total || length < 1 || length > MAX_SECRET_BYTES) throw bad('bad parameters');
  let meta: string;
  try {
    meta = fromUtf8(body.subarray(fixed, fixed + metaLen));
  } catch {
    throw bad('bad description text');
  }
  let off = fixed + metaLen;
  const value = body.slice(off, (off += length));
  const commitment = body.slice(off, (off += MAC_BYTES));
  const mac = body.slice(off, off + MAC_BYTES);
  return Object.freeze({ version: SHAMIR_VERSION, setId, threshold, total, index, meta, value, commitment, mac });
}
