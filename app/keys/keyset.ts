/**
 * Keysets: the staged lifecycle of keys for one purpose (the master key or the signing key of a producer).
 *
 *   add ──► staged ──promote──► active ──(next promote)──► previous ──retire──► retired
 *              └──────────────────retire──────────────────────────────────────────┘
 *
 * - At most one key is `active`: new files are written (encrypted / signed) with it.
 * - `previous` keys are kept until retired: they still decrypt and verify files that have not been rotated yet.
 * - A `staged` key exists but is not used for writing yet (e.g. waiting for the folder rewrap or the broker import).
 * - `retired` keys are no longer used at all; the entry stays so the history is visible. The active key cannot be
 *   retired: promote its successor first.
 *
 * Functions are pure: they return a new keyset. Folder rotation (`keys rotate`, later) takes the active key as "old"
 * and a staged key as "new" (`rotationPair`), rewraps, then promotes.
 */
import { AppError } from '../errors.ts';
import type { KeyInfo } from './key.ts';

export const KEY_STATES = Object.freeze(['staged', 'active', 'previous', 'retired'] as const);
export type KeyState = (typeof KEY_STATES)[number];
export type KeysetPurpose = 'enc' | 'sign';

export interface KeysetEntry {
  readonly kid: string;
  readonly fingerprint: string;
  readonly alg: string;
  readonly state: KeyState;
  readonly addedAt: string;
  readonly promotedAt?: string;
  readonly retiredAt?: string;
}

export interface Keyset {
  readonly purpose: KeysetPurpose;
  /** Whose keys these are (a producer id), for display and for the rotation bundle. */
  readonly owner: string;
  readonly entries: readonly KeysetEntry[];
}

export function emptyKeyset(purpose: KeysetPurpose, owner: string): Keyset {
  return { purpose, owner, entries: [] };
}

function find(ks: Keyset, kid: string): KeysetEntry {
  const e = ks.entries.find((x) => x.kid === kid);
  if (e === undefined) throw new AppError('KEY_NOT_FOUND', `Key ${kid} is not in the ${ks.purpose} keyset of ${ks.owner}. Run "model-vault keys list" to see the keys.`);
  return e;
}

function replace(ks: Keyset, f: (e: KeysetEntry) => KeysetEntry): Keyset {
  return { ...ks, entries: ks.entries.map(f) };
}

export function addKey(ks: Keyset, key: KeyInfo, now: Date = new Date()): Keyset {
  const wantKind = ks.purpose === 'enc' ? 'master' : 'signing';
  if (key.kind !== wantKind) throw new AppError('KEY_ALG_MISMATCH', `A ${ks.purpose} keyset holds ${wantKind} keys; key ${key.kid ?? '(no kid)'} is a ${key.kind} key.`);
  if (key.kind === 'signing' && key.verifyOnly) throw new AppError('KEY_INVALID', `Key ${key.kid ?? '(no kid)'} is verify-only and cannot be added to a signing keyset.`);
  if (key.kid === undefined) throw new AppError('VALIDATION', 'A key needs a kid to join a keyset.');
  const active = ks.entries.find((e) => e.state === 'active');
  if (ks.purpose === 'enc' && active !== undefined && active.alg !== key.alg) {
    // The reference's rewrap keeps each file's DEKs and cannot change the algorithm (spec §4.5).
    throw new AppError('KEY_ALG_MISMATCH', `The active master key uses ${active.alg}; a new master key must use the same algorithm (rewrap cannot change it).`);
  }
  for (const e of ks.entries) {
    if (e.kid === key.kid) throw new AppError('ALREADY_EXISTS', `Key ${key.kid} is already in this keyset.`);
    if (e.fingerprint === key.fingerprint) throw new AppError('ALREADY_EXISTS', `This key is already in the keyset as ${e.kid}.`);
  }
  return { ...ks, entries: [...ks.entries, { kid: key.kid, fingerprint: key.fingerprint, alg: key.alg, state: 'staged', addedAt: now.toISOString() }] };
}

/** Makes a staged key active; the previously active key becomes `previous` (still usable to read). */
export function promoteKey(ks: Keyset, kid: string, now: Date = new Date()): Keyset {
  const target = find(ks, kid);
  if (target.state !== 'staged') throw new AppError('VALIDATION', `Key ${kid} is ${target.state}; only a staged key can be promoted.`);
  const at = now.toISOString();
  return replace(ks, (e) => (e.kid === kid ? { ...e, state: 'active', promotedAt: at } : e.state === 'active' ? { ...e, state: 'previous' } : e));
}

export function retireKey(ks: Keyset, kid: string, now: Date = new Date()): Keyset {
  const target = find(ks, kid);
  if (target.state === 'active') throw new AppError('VALIDATION', `Key ${kid} is active and cannot be retired: promote its successor first.`);
  if (target.state === 'retired') return ks;
  return replace(ks, (e) => (e.kid === kid ? { ...e, state: 'retired', retiredAt: now.toISOString() } : e));
}

export function activeKey(ks: Keyset): KeysetEntry | undefined {
  return ks.entries.find((e) => e.state === 'active');
}

/** Keys that may still decrypt or verify existing files: active, previous and staged (never retired). */
export function readableKeys(ks: Keyset): KeysetEntry[] {
  return ks.entries.filter((e) => e.state !== 'retired');
}

/** The (old, new) pair for a rotation: the active key and the given (or only) staged key. */
export function rotationPair(ks: Keyset, newKid?: string): { readonly from: KeysetEntry; readonly to: KeysetEntry } {
  const from = activeKey(ks);
  if (from === undefined) throw new AppError('KEY_NOT_FOUND', `The ${ks.purpose} keyset of ${ks.owner} has no active key to rotate from.`);
  const staged = ks.entries.filter((e) => e.state === 'staged');
  const to = newKid === undefined ? staged[0] : staged.find((e) => e.kid === newKid);
  if (to === undefined || (newKid === undefined && staged.length > 1)) {
    throw new AppError('KEY_NOT_FOUND', newKid === undefined ? `Stage exactly one new ${ks.purpose} key (or name it) before rotating.` : `Key ${newKid} is not staged in this keyset.`);
  }
  return { from, to };
}

export function parseKeyset(value: unknown): Keyset {
  const bad = (d: string): AppError => new AppError('VALIDATION', `Keyset file is malformed (${d}).`);
  const v = value as Partial<Keyset> | null;
  if (v === null || typeof v !== 'object') throw bad('not an object');
  if (v.purpose !== 'enc' && v.purpose !== 'sign') throw bad('purpose');
  if (typeof v.owner !== 'string' || !Array.isArray(v.entries)) throw bad('owner or entries');
  let active = 0;
  for (const e of v.entries as unknown[]) {
    const x = e as Partial<KeysetEntry> | null;
    if (x === null || typeof x !== 'object' || typeof x.kid !== 'string' || typeof x.fingerprint !== 'string' || typeof x.alg !== 'string' || typeof x.addedAt !== 'string' || !(KEY_STATES as readonly string[]).includes(x.state as string)) throw bad('entry');
    if (x.state === 'active') active++;
  }
  if (active > 1) throw bad('more than one active key');
  return v as Keyset;
}
