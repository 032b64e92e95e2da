/**
 * The audit entry format, shared by the CLI, the app and the broker (pure code: the broker client verifies the
 * chains it downloads with it). Described in app/keys/README.md ("Audit log") and app/broker/README.md §9.
 *
 * One entry per line, canonical JSON (sorted keys, no spaces):
 *   { "v":1, "seq":<1,2,3…>, "time":"<ISO 8601 UTC>", "actor":"…", "action":"keys.new", "object":"mv-enc-…",
 *     "result":"ok"|"denied"|"failed", "details":{…}?, "prev":"<hex sha256 of the previous entry>",
 *     "hash":"<hex sha256 of this entry>", "sig":"<b64std>"? }
 *
 * - hash = SHA-256(canonical JSON of the entry without `hash` and `sig`); the first entry's prev is GENESIS_HASH.
 *   So each entry commits to every entry before it, and `seq` makes gaps and moves visible.
 * - A checkpoint is an entry with action `audit.checkpoint` whose details name the signer (kid, fingerprint,
 *   public key) and whose `sig` is Ed25519 over "model-vault/audit/v1/checkpoint\n" + hash. Rewriting history
 *   (even recomputing every hash) then breaks a signature the attacker cannot make.
 * - Nothing secret goes in: values are short printable strings, numbers or booleans, and detail names that suggest
 *   secrets (key, secret, passphrase, password, token, seed…) are refused.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8 } from '../crypto/bytes.ts';
import { AppError, BugError } from '../errors.ts';
import { canonicalJson } from '../keys/canonical-json.ts';
import { fromB64std, toB64std, toHex } from '../crypto/encoding.ts';
import { fingerprintOf, signBytes, type SigningKey, verifyBytes } from '../keys/key.ts';

export const AUDIT_VERSION = 1;
export const GENESIS_HASH = toHex(sha256(utf8('model-vault/audit/v1/genesis')));
export const CHECKPOINT_ACTION = 'audit.checkpoint';
const CHECKPOINT_PREFIX = 'model-vault/audit/v1/checkpoint\n';
export const MAX_FIELD_CHARS = 512;
const MAX_DETAILS = 32;

export const AUDIT_RESULTS = Object.freeze(['ok', 'denied', 'failed'] as const);
export type AuditResult = (typeof AUDIT_RESULTS)[number];

export type AuditDetailValue = string | number | boolean;

export interface AuditEvent {
  /** Who: a user name, a service account, a licence id. */
  readonly actor: string;
  /** What, as `domain.verb`: keys.new, keys.export, verify, mount, rotate, licence.deny … */
  readonly action: string;
  /** On what: a kid, a fingerprint, a model path. */
  readonly object: string;
  readonly result: AuditResult;
  readonly details?: Readonly<Record<string, AuditDetailValue>>;
}

export interface AuditEntry extends AuditEvent {
  readonly v: typeof AUDIT_VERSION;
  readonly seq: number;
  readonly time: string;
  readonly prev: string;
  readonly hash: string;
  readonly sig?: string;
}

const SECRET_WORDS = new Set(['secret', 'secrets', 'passphrase', 'password', 'passwd', 'pw', 'token', 'seed', 'private', 'plaintext', 'k', 'd', 'share', 'shares']);
/** "key" is allowed only next to one of these words (publicKey, keyFingerprint, keyCount …). */
const KEY_QUALIFIERS = new Set(['public', 'fingerprint', 'fp', 'kind', 'alg', 'count', 'id', 'ids', 'kid', 'kids', 'source', 'store', 'state']);

export function looksSecret(name: string): boolean {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/).filter((w) => w !== '');
  if (words.some((w) => SECRET_WORDS.has(w))) return true;
  const hasKey = words.some((w) => w === 'key' || w === 'keys');
  return hasKey && !words.some((w) => KEY_QUALIFIERS.has(w));
}
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function checkText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_FIELD_CHARS || hasControl(value)) {
    throw new BugError(`audit ${field} must be 1-${MAX_FIELD_CHARS} printable characters`);
  }
  return value;
}

/** Throws a BugError for events that could carry secrets or break the log format (a caller bug, not user input). */
export function checkEvent(e: AuditEvent): void {
  checkText(e.actor, 'actor');
  checkText(e.action, 'action');
  checkText(e.object, 'object');
  if (!(AUDIT_RESULTS as readonly string[]).includes(e.result)) throw new BugError('audit result must be ok, denied or failed');
  if (e.details !== undefined) {
    const names = Object.keys(e.details);
    if (names.length > MAX_DETAILS) throw new BugError('too many audit details');
    for (const name of names) {
      if (looksSecret(name)) throw new BugError(`audit detail "${name}" looks like a secret field; log fingerprints and kids, never key material`);
      const v = e.details[name];
      if (typeof v === 'string') checkText(v, `detail ${name}`);
      else if (typeof v === 'number' ? !Number.isSafeInteger(v) : typeof v !== 'boolean') throw new BugError(`audit detail "${name}" must be a string, an integer or a boolean`);
    }
  }
}

function hashedPart(e: Omit<AuditEntry, 'hash' | 'sig'> | AuditEntry): Record<string, unknown> {
  const { v, seq, time, actor, action, object, result, details, prev } = e;
  return { v, seq, time, actor, action, object, result, prev, ...(details === undefined ? {} : { details }) };
}

export function entryHash(e: Omit<AuditEntry, 'hash' | 'sig'> | AuditEntry): string {
  return toHex(sha256(utf8(canonicalJson(hashedPart(e) as never))));
}

export function makeEntry(event: AuditEvent, prev: { seq: number; hash: string } | undefined, time: Date): AuditEntry {
  checkEvent(event);
  const base = { ...event, v: AUDIT_VERSION, seq: (prev?.seq ?? 0) + 1, time: time.toISOString(), prev: prev?.hash ?? GENESIS_HASH } as const;
  return { ...base, hash: entryHash(base) };
}

/** Who signs checkpoints: a kid, the Ed25519 public key and a signing function (noble or node:crypto). */
export interface CheckpointSigner {
  readonly kid: string;
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/**
 * A signed checkpoint after `prev`. `extraDetails` are hashed with it (the broker names the model of a per-model
 * chain there); the signer's names (signerKid, signerFingerprint, publicKey) cannot be overridden.
 */
export function makeCheckpointWith(signer: CheckpointSigner, prev: { seq: number; hash: string }, time: Date, actor: string, extraDetails: Readonly<Record<string, AuditDetailValue>> = {}): AuditEntry {
  const fingerprint = fingerprintOf({ kind: 'signing', alg: 'ed25519', algSpelling: 'ed25519', publicKey: signer.publicKey });
  const entry = makeEntry(
    { actor, action: CHECKPOINT_ACTION, object: `entries 1-${prev.seq}`, result: 'ok', details: { ...extraDetails, signerKid: signer.kid, signerFingerprint: fingerprint, publicKey: toB64std(signer.publicKey) } },
    prev,
    time,
  );
  return { ...entry, sig: toB64std(signer.sign(utf8(CHECKPOINT_PREFIX + entry.hash))) };
}

export function makeCheckpoint(signer: SigningKey, prev: { seq: number; hash: string }, time: Date, actor: string): AuditEntry {
  const kid = signer.kid;
  if (kid === undefined) throw new BugError('audit checkpoint signer needs a kid');
  return makeCheckpointWith({ kid, publicKey: signer.publicKey, sign: (m) => signBytes(signer, m) }, prev, time, actor);
}

/** Checks a checkpoint's signature; returns the signer's public key when valid. */
export function checkCheckpoint(e: AuditEntry): Uint8Array | undefined {
  const pkText = e.details?.publicKey;
  if (typeof pkText !== 'string' || e.sig === undefined) return undefined;
  const pk = fromB64std(pkText);
  const sig = fromB64std(e.sig);
  if (pk === undefined || sig === undefined) return undefined;
  if (!verifyBytes(pk, utf8(CHECKPOINT_PREFIX + e.hash), sig)) return undefined;
  const fp = fingerprintOf({ kind: 'signing', alg: 'ed25519', algSpelling: 'ed25519', publicKey: pk });
  return e.details?.signerFingerprint === fp ? pk : undefined;
}

export function serializeEntry(e: AuditEntry): string {
  return canonicalJson({ ...hashedPart(e), hash: e.hash, ...(e.sig === undefined ? {} : { sig: e.sig }) });
}

/** Parses one line; `undefined` if it is not a structurally valid entry (the hash is checked separately). */
export function parseEntry(line: string): AuditEntry | undefined {
  let d: unknown;
  try {
    d = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return undefined;
  const e = d as Record<string, unknown>;
  const hex64 = (x: unknown): boolean => typeof x === 'string' && /^[0-9a-f]{64}$/.test(x);
  if (e.v !== AUDIT_VERSION || !Number.isSafeInteger(e.seq) || (e.seq as number) < 1 || typeof e.time !== 'string' || !hex64(e.prev) || !hex64(e.hash)) return undefined;
  if (e.sig !== undefined && typeof e.sig !== 'string') return undefined;
  try {
    checkEvent(e as unknown as AuditEvent);
  } catch {
    return undefined;
  }
  const allowed = new Set(['v', 'seq', 'time', 'actor', 'action', 'object', 'result', 'details', 'prev', 'hash', 'sig']);
  if (Object.keys(e).some((k) => !allowed.has(k))) return undefined;
  return e as unknown as AuditEntry;
}

/** For callers that map a log problem to an error. */
export function auditTampered(message: string): AppError {
  return new AppError('AUDIT_TAMPERED', message);
}
