/**
 * The key inventory: every stored key and every key only the environment supplies, with its keyset states and its
 * last use in the audit log (never key bytes).
 */
import type { KeyInventory, KeyLocation, KeyMembership, KeyRow } from '../../../ipc/ops/security.ts';
import type { AuditEntry } from '../../audit/entry.ts';
import type { KeysetFile } from '../../keys/keyset-file.ts';
import type { EnvironmentKeySource } from '../../keys/sources.ts';
import type { ListedKey, SecurityStores } from './stores.ts';

/** The latest entry naming each kid or fingerprint (as its object or any detail value). */
function lastUses(entries: readonly AuditEntry[]): Map<string, AuditEntry> {
  const last = new Map<string, AuditEntry>();
  for (const e of entries) {
    if (e.action === 'audit.checkpoint' || e.action === 'keys.list') continue;
    const ids = [e.object, ...Object.values(e.details ?? {}).filter((x): x is string => typeof x === 'string')];
    for (const id of ids) last.set(id, e);
  }
  return last;
}

function membershipsOf(keysets: KeysetFile, kid: string, fingerprint: string): KeyMembership[] {
  return keysets.keysets.flatMap((ks) => ks.entries.filter((e) => e.kid === kid && e.fingerprint === fingerprint).map((e) => ({ owner: ks.owner, purpose: ks.purpose, state: e.state })));
}

export function keyRow(k: Omit<ListedKey, 'store'> & { readonly store: KeyLocation }, keysets: KeysetFile, uses: ReadonlyMap<string, AuditEntry>): KeyRow {
  const used = [uses.get(k.kid), uses.get(k.fingerprint)].filter((e): e is AuditEntry => e !== undefined).sort((a, b) => b.seq - a.seq)[0];
  return {
    kid: k.kid,
    kind: k.kind,
    alg: k.alg,
    fingerprint: k.fingerprint,
    store: k.store,
    verifyOnly: k.verifyOnly,
    createdAt: k.meta.createdAt,
    origin: k.meta.origin,
    ...(k.meta.label === undefined ? {} : { label: k.meta.label }),
    keysets: membershipsOf(keysets, k.kid, k.fingerprint),
    ...(used === undefined ? {} : { lastUsed: { time: used.time, action: used.action, result: used.result } }),
  };
}

/**
 * The keys only the environment supplies: a key a store also holds (same fingerprint) is listed once, by its store,
 * and a key in two variables once, by the first in the key sources' order. Descriptions only, never bytes.
 */
function environmentRows(sources: readonly EnvironmentKeySource[], stored: ReadonlySet<string>, keysets: KeysetFile, uses: ReadonlyMap<string, AuditEntry>): KeyRow[] {
  const seen = new Set(stored);
  const rows: KeyRow[] = [];
  for (const src of sources) {
    for (const k of src.keys) {
      if (seen.has(k.fingerprint)) continue;
      seen.add(k.fingerprint);
      const kid = k.kid ?? '-';
      const row = keyRow({ ...k, kid, store: 'environment', meta: { createdAt: '', origin: 'imported' } }, keysets, uses);
      rows.push({ ...row, origin: 'environment', variable: src.variable });
    }
  }
  return rows;
}

export async function inventory(stores: SecurityStores, keysets: KeysetFile, audit: readonly AuditEntry[]): Promise<KeyInventory> {
  const [states, keys, environment] = await Promise.all([stores.states(), stores.list(), stores.environment()]);
  const uses = lastUses(audit);
  const stored = keys.map((k) => keyRow(k, keysets, uses)).sort((a, b) => (a.kind === b.kind ? (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0) : a.kind === 'master' ? -1 : 1));
  const fromEnv = environmentRows(environment, new Set(keys.map((k) => k.fingerprint)), keysets, uses);
  const rows = [...stored, ...fromEnv];
  const known = new Set(rows.map((k) => k.fingerprint));
  const orphans = keysets.keysets.flatMap((ks) => ks.entries.filter((e) => !known.has(e.fingerprint) && e.state !== 'retired').map((e) => ({ kid: e.kid, fingerprint: e.fingerprint, alg: e.alg, owner: ks.owner, purpose: ks.purpose, state: e.state })));
  const envView = environment.map((e) => ({ variable: e.variable, location: e.location, keys: e.keys.length, ...(e.problem === undefined ? {} : { problem: e.problem }) }));
  return { stores: states, environment: envView, keys: rows, orphans };
}
