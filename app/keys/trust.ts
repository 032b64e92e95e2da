/**
 * The trust store: pinned signer public keys, per producer and per model (spec W-2, W-3: a valid signature means
 * nothing unless we know whose key made it).
 *
 * Each entry pins one Ed25519 public key (by fingerprint) to a scope and says whether it is trusted there:
 *   scope `any`            – trusted for every file (use sparingly);
 *   scope `producer:<id>`  – for files whose producer is <id>;
 *   scope `model:<id>`     – for one model.
 * `untrust` keeps the entry with `trusted: false`, so the key stays *known* (and its status is reported as
 * known-but-untrusted, not unknown).
 *
 * `evaluateSigner` answers with:
 *   - `trusted`: an entry for this key trusts it in the most specific matching scope;
 *   - `known-untrusted`: the key is in the store but not trusted for this file (untrusted there, or pinned only to
 *     another producer/model, or the model is pinned to other keys);
 *   - `unknown`: the key is not in the store.
 * The most specific scope wins: model, then producer, then any. If a model or producer has *trusted* pins, any
 * other key is not trusted for it even if trusted under `any`.
 */
import { AppError } from '../errors.ts';
import { fromB64std, toB64std } from '../crypto/encoding.ts';
import { ED25519_PUBLIC_BYTES, fingerprintOfPublicKey } from './key.ts';

export type TrustScope = { readonly kind: 'any' } | { readonly kind: 'producer'; readonly id: string } | { readonly kind: 'model'; readonly id: string };

export interface TrustEntry {
  readonly fingerprint: string;
  /** b64std of the 32-byte Ed25519 public key (public data). */
  readonly publicKey: string;
  readonly kid?: string;
  readonly scope: TrustScope;
  readonly trusted: boolean;
  readonly updatedAt: string;
  readonly note?: string;
}

export interface TrustStore {
  readonly version: 1;
  readonly entries: readonly TrustEntry[];
}

export type TrustStatus = 'trusted' | 'known-untrusted' | 'unknown';

export interface SignerVerdict {
  readonly status: TrustStatus;
  readonly fingerprint: string;
  readonly kid?: string;
  /** The entry that decided, if any. */
  readonly entry?: TrustEntry;
  readonly reason: string;
}

export function emptyTrustStore(): TrustStore {
  return { version: 1, entries: [] };
}

export function scopeToString(s: TrustScope): string {
  return s.kind === 'any' ? 'any' : `${s.kind}:${s.id}`;
}

export function parseScope(text: string): TrustScope {
  if (text === 'any') return { kind: 'any' };
  const m = /^(producer|model):(.{1,200})$/.exec(text);
  if (m === null) throw new AppError('VALIDATION', 'A trust scope is "any", "producer:<id>" or "model:<id>".');
  return { kind: m[1] as 'producer' | 'model', id: m[2] as string };
}

function sameScope(a: TrustScope, b: TrustScope): boolean {
  return scopeToString(a) === scopeToString(b);
}

function checkPublicKey(publicKey: Uint8Array): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_PUBLIC_BYTES) throw new AppError('KEY_INVALID', `A signer public key must be ${ED25519_PUBLIC_BYTES} bytes.`);
}

/** Adds or updates the pin of `publicKey` in `scope` as trusted. */
export function trustSigner(store: TrustStore, publicKey: Uint8Array, scope: TrustScope, opts: { kid?: string; note?: string; now?: Date } = {}): TrustStore {
  return setTrust(store, publicKey, scope, true, opts);
}

/** Marks `publicKey` as known-but-untrusted in `scope` (the entry is kept). */
export function untrustSigner(store: TrustStore, publicKey: Uint8Array, scope: TrustScope, opts: { kid?: string; note?: string; now?: Date } = {}): TrustStore {
  return setTrust(store, publicKey, scope, false, opts);
}

function setTrust(store: TrustStore, publicKey: Uint8Array, scope: TrustScope, trusted: boolean, opts: { kid?: string; note?: string; now?: Date }): TrustStore {
  checkPublicKey(publicKey);
  const fingerprint = fingerprintOfPublicKey(publicKey);
  const entry: TrustEntry = {
    fingerprint,
    publicKey: toB64std(publicKey),
    scope,
    trusted,
    updatedAt: (opts.now ?? new Date()).toISOString(),
    ...(opts.kid === undefined ? {} : { kid: opts.kid }),
    ...(opts.note === undefined ? {} : { note: opts.note }),
  };
  const rest = store.entries.filter((e) => !(e.fingerprint === fingerprint && sameScope(e.scope, scope)));
  return { version: 1, entries: [...rest, entry] };
}

/** Removes every entry for a fingerprint (the key becomes unknown). */
export function forgetSigner(store: TrustStore, fingerprint: string): TrustStore {
  return { version: 1, entries: store.entries.filter((e) => e.fingerprint !== fingerprint) };
}

export function findByFingerprintOrKid(store: TrustStore, ref: string): TrustEntry[] {
  return store.entries.filter((e) => e.fingerprint === ref || e.kid === ref);
}

export function evaluateSigner(store: TrustStore, publicKey: Uint8Array, context: { producer?: string; model?: string } = {}): SignerVerdict {
  checkPublicKey(publicKey);
  const fingerprint = fingerprintOfPublicKey(publicKey);
  const mine = store.entries.filter((e) => e.fingerprint === fingerprint);
  const kid = mine.find((e) => e.kid !== undefined)?.kid;
  const base = { fingerprint, ...(kid === undefined ? {} : { kid }) };
  if (mine.length === 0) return { ...base, status: 'unknown', reason: 'The signer key is not in the trust store.' };
  const scopes: TrustScope[] = [];
  if (context.model !== undefined) scopes.push({ kind: 'model', id: context.model });
  if (context.producer !== undefined) scopes.push({ kind: 'producer', id: context.producer });
  scopes.push({ kind: 'any' });
  for (const scope of scopes) {
    const entry = mine.find((e) => sameScope(e.scope, scope));
    if (entry !== undefined) {
      return entry.trusted
        ? { ...base, status: 'trusted', entry, reason: `Trusted for ${scopeToString(scope)}.` }
        : { ...base, status: 'known-untrusted', entry, reason: `Marked untrusted for ${scopeToString(scope)}.` };
    }
    // A scope with trusted pins of other keys excludes this key from the broader scopes.
    if (scope.kind !== 'any' && store.entries.some((e) => e.trusted && sameScope(e.scope, scope))) {
      return { ...base, status: 'known-untrusted', reason: `${scopeToString(scope)} is pinned to other signer keys.` };
    }
  }
  return { ...base, status: 'known-untrusted', reason: `Known, but trusted only for ${mine.filter((e) => e.trusted).map((e) => scopeToString(e.scope)).join(', ') || 'nothing'}.` };
}

export function publicKeyOf(entry: TrustEntry): Uint8Array {
  const pk = fromB64std(entry.publicKey);
  if (pk === undefined || pk.length !== ED25519_PUBLIC_BYTES) throw new AppError('VALIDATION', `Trust entry ${entry.fingerprint} has a malformed public key.`);
  return pk;
}

export function parseTrustStore(text: string): TrustStore {
  const bad = (d: string): AppError => new AppError('VALIDATION', `The trust store is malformed (${d}). Restore it from a backup or re-add the signers.`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const d = doc as Partial<TrustStore> | null;
  if (d === null || typeof d !== 'object' || d.version !== 1 || !Array.isArray(d.entries)) throw bad('version or entries');
  const entries = (d.entries as unknown[]).map((raw, i): TrustEntry => {
    const e = raw as Partial<TrustEntry> | null;
    if (e === null || typeof e !== 'object' || typeof e.publicKey !== 'string' || typeof e.trusted !== 'boolean' || typeof e.updatedAt !== 'string' || typeof e.scope !== 'object' || e.scope === null) throw bad(`entry ${i + 1}`);
    const pk = fromB64std(e.publicKey);
    if (pk === undefined || pk.length !== ED25519_PUBLIC_BYTES) throw bad(`entry ${i + 1} public key`);
    const rawScope = e.scope as { kind?: unknown; id?: unknown };
    if (rawScope.kind !== 'any' && typeof rawScope.id !== 'string') throw bad(`entry ${i + 1} scope`);
    if ((e.kid !== undefined && typeof e.kid !== 'string') || (e.note !== undefined && typeof e.note !== 'string')) throw bad(`entry ${i + 1} kid or note`);
    const scope = parseScope(scopeToString(e.scope));
    // The fingerprint is recomputed, never trusted from the file.
    return { ...e, fingerprint: fingerprintOfPublicKey(pk), publicKey: e.publicKey, scope, trusted: e.trusted, updatedAt: e.updatedAt };
  });
  return { version: 1, entries };
}

export function serializeTrustStore(store: TrustStore): string {
  return JSON.stringify(store, null, 2) + '\n';
}
