/**
 * Canonical request signing (README §3): Ed25519 device keys over method, path, body hash, timestamp, nonce and
 * device id. Pure: the verifier is injectable so the server can use a faster backend with identical semantics.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { AppError } from '../errors.ts';
import { utf8 } from '../crypto/bytes.ts';
import { ed25519Sign, ed25519Verify, ED25519_PUBLIC_BYTES } from '../crypto/ed25519.ts';
import { randomBytes } from '../crypto/random.ts';
import { sha256, toHex } from '../crypto/sha256.ts';
import { fromB64url, toB64url } from '../crypto/encoding.ts';

export const REQUEST_PREFIX = 'model-vault/broker/v1/request';
export const NONCE_BYTES = 16;
export const DEFAULT_TIMESTAMP_WINDOW_MS = 60_000;

export const AUTH_HEADERS = Object.freeze({
  device: 'x-mv-device',
  timestamp: 'x-mv-timestamp',
  nonce: 'x-mv-nonce',
  signature: 'x-mv-signature',
} as const);

const DEVICE_ID_RE = /^dev_[0-9a-f]{32}$/;
const TIMESTAMP_RE = /^[0-9]{1,16}$/;

export type SignatureVerifier = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean;
export const nobleVerifier: SignatureVerifier = ed25519Verify;
/** A verifier that may answer later (the broker's: node:crypto on libuv's thread pool); every SignatureVerifier is one. */
export type AsyncSignatureVerifier = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean | Promise<boolean>;

/** A device's identity on the broker: derived from its Ed25519 public key. */
export function deviceIdFor(signPub: Uint8Array): string {
  if (!(signPub instanceof Uint8Array) || signPub.length !== ED25519_PUBLIC_BYTES) throw new AppError('KEY_INVALID', `A device signing key must be ${ED25519_PUBLIC_BYTES} bytes.`);
  return 'dev_' + toHex(sha256(signPub)).slice(0, 32);
}

export function isDeviceId(text: unknown): text is string {
  return typeof text === 'string' && DEVICE_ID_RE.test(text);
}

export interface RequestParts {
  readonly method: string;
  /** Path with query string, exactly as sent. */
  readonly path: string;
  readonly body: Uint8Array;
  readonly timestamp: number;
  readonly nonceB64u: string;
  readonly deviceId: string;
}

export function canonicalRequest(p: RequestParts): Uint8Array {
  return utf8([REQUEST_PREFIX, p.method.toUpperCase(), p.path, toHex(sha256(p.body)), String(p.timestamp), p.nonceB64u, p.deviceId].join('\n'));
}

export interface DeviceSigner {
  readonly deviceId: string;
  readonly signPub: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** A device signer over a 32-byte Ed25519 seed held by the caller. */
export function seedSigner(seed: Uint8Array): DeviceSigner {
  const signPub = ed25519.getPublicKey(seed);
  return { deviceId: deviceIdFor(signPub), signPub, sign: (m) => ed25519Sign(m, seed) };
}

/** Builds the four auth headers for a request. */
export function signRequest(signer: DeviceSigner, method: string, path: string, body: Uint8Array, now: number = Date.now()): Record<string, string> {
  const nonceB64u = toB64url(randomBytes(NONCE_BYTES));
  const timestamp = Math.floor(now);
  const sig = signer.sign(canonicalRequest({ method, path, body, timestamp, nonceB64u, deviceId: signer.deviceId }));
  return {
    [AUTH_HEADERS.device]: signer.deviceId,
    [AUTH_HEADERS.timestamp]: String(timestamp),
    [AUTH_HEADERS.nonce]: nonceB64u,
    [AUTH_HEADERS.signature]: toB64url(sig),
  };
}

export interface ParsedAuth {
  readonly deviceId: string;
  readonly timestamp: number;
  readonly nonceB64u: string;
  readonly signature: Uint8Array;
}

function header(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** Parses the auth headers; AUTH_FAILED when any is missing or malformed. */
export function parseAuthHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): ParsedAuth {
  const deviceId = header(headers, AUTH_HEADERS.device);
  const ts = header(headers, AUTH_HEADERS.timestamp);
  const nonceB64u = header(headers, AUTH_HEADERS.nonce);
  const sigText = header(headers, AUTH_HEADERS.signature);
  if (deviceId === undefined || ts === undefined || nonceB64u === undefined || sigText === undefined) throw new AppError('AUTH_FAILED', 'Unsigned request: the x-mv-device, x-mv-timestamp, x-mv-nonce and x-mv-signature headers are required. Use the Model Vault client.');
  if (!isDeviceId(deviceId) || !TIMESTAMP_RE.test(ts)) throw new AppError('AUTH_FAILED', 'Malformed request authentication headers. Use the Model Vault client.');
  const nonce = fromB64url(nonceB64u);
  const signature = fromB64url(sigText);
  if (nonce?.length !== NONCE_BYTES || signature?.length !== 64) throw new AppError('AUTH_FAILED', 'Malformed request authentication headers. Use the Model Vault client.');
  return { deviceId, timestamp: Number(ts), nonceB64u, signature };
}

export function checkTimestamp(timestamp: number, now: number, windowMs: number = DEFAULT_TIMESTAMP_WINDOW_MS): void {
  if (Math.abs(now - timestamp) > windowMs) throw new AppError('REPLAY_DETECTED', 'The request timestamp is outside the accepted window: check the device clock and retry.');
}

const BAD_REQUEST_SIGNATURE = 'The request signature is invalid: the request was modified or signed by another key.';

export function verifyRequest(auth: ParsedAuth, method: string, path: string, body: Uint8Array, signPub: Uint8Array, verifier: SignatureVerifier = nobleVerifier): void {
  const msg = canonicalRequest({ method, path, body, timestamp: auth.timestamp, nonceB64u: auth.nonceB64u, deviceId: auth.deviceId });
  if (!verifier(auth.signature, msg, signPub)) throw new AppError('AUTH_FAILED', BAD_REQUEST_SIGNATURE);
}

/** `verifyRequest` with a verifier that may answer later (same message, same refusal). */
export async function verifyRequestAsync(auth: ParsedAuth, method: string, path: string, body: Uint8Array, signPub: Uint8Array, verifier: AsyncSignatureVerifier): Promise<void> {
  const msg = canonicalRequest({ method, path, body, timestamp: auth.timestamp, nonceB64u: auth.nonceB64u, deviceId: auth.deviceId });
  if (!(await verifier(auth.signature, msg, signPub))) throw new AppError('AUTH_FAILED', BAD_REQUEST_SIGNATURE);
}
