/**
 * The broker's hash-chained audit entries (README §9), in the app's audit-log shape (issue 5 item 6: time, actor,
 * action, object, result, previous hash) plus `seq`, `model` and `details`. Pure: hashing and chain verification.
 *
 * ADAPTER NOTE: the app's own audit module (app/node/audit/, issue 5) did not exist when this was written; when it
 * exports its entry hashing, this file should delegate to it.
 */
import { utf8 } from '../crypto/bytes.ts';
import { sha256, toHex } from '../crypto/sha256.ts';
import { canonicalJson } from '../keys/canonical-json.ts';

export const AUDIT_PREFIX = 'model-vault/audit/v1\n';
export const GENESIS_HASH = '0'.repeat(64);
const MAX_DETAIL_CHARS = 500;

export interface AuditFields {
  readonly actor: string;
  readonly action: string;
  readonly object: string;
  readonly model: string | null;
  /** 'allow' | 'deny' | 'ok' | an error code. */
  readonly result: string;
  /** A short, non-secret note (an error code's message, counts, ids). */
  readonly details: string;
}

export interface AuditEntry extends AuditFields {
  readonly seq: number;
  readonly time: string;
  readonly prev: string;
  readonly hash: string;
}

export function auditEntryHash(e: Omit<AuditEntry, 'hash'>): string {
  const body = { seq: e.seq, time: e.time, actor: e.actor, action: e.action, object: e.object, model: e.model, result: e.result, details: e.details, prev: e.prev };
  return toHex(sha256(utf8(AUDIT_PREFIX + canonicalJson(body))));
}

export function makeAuditEntry(fields: AuditFields, seq: number, prev: string, time: Date): AuditEntry {
  const details = fields.details.length > MAX_DETAIL_CHARS ? fields.details.slice(0, MAX_DETAIL_CHARS) : fields.details;
  const partial = { ...fields, details, seq, time: time.toISOString(), prev };
  return { ...partial, hash: auditEntryHash(partial) };
}

export type ChainVerdict = { readonly ok: true; readonly count: number; readonly head: string } | { readonly ok: false; readonly seq: number; readonly problem: string };

/** Verifies a whole chain from the genesis: sequence, links and hashes. Reports the first broken entry. */
export function verifyAuditChain(entries: Iterable<AuditEntry>): ChainVerdict {
  let prev = GENESIS_HASH;
  let expectSeq = 1;
  let count = 0;
  for (const e of entries) {
    if (e.seq !== expectSeq) return { ok: false, seq: e.seq, problem: `expected entry ${expectSeq}, found ${e.seq} (an entry was deleted, inserted or reordered)` };
    if (e.prev !== prev) return { ok: false, seq: e.seq, problem: 'the previous-hash link is broken (an earlier entry was changed, deleted or reordered)' };
    if (auditEntryHash(e) !== e.hash) return { ok: false, seq: e.seq, problem: 'the entry was edited (its hash does not match its content)' };
    prev = e.hash;
    expectSeq++;
    count++;
  }
  return { ok: true, count, head: prev };
}
