/**
 * `verifyAuditLog`: checks an audit log's text and says what is wrong and where (1-based entry number = line).
 *
 * Problem kinds:
 * - `malformed`   a line that is not a valid entry (including a blank line or a torn final write);
 * - `edited`      an entry's content no longer matches its hash, or its hash was recomputed after an edit (then the
 *                 next entry's `prev` no longer matches);
 * - `deleted`     sequence numbers are missing (entries removed);
 * - `inserted`    an entry that does not belong to the chain (duplicate seq, or the chain skips over it);
 * - `reordered`   entries out of sequence order;
 * - `bad-checkpoint` / `untrusted-checkpoint`  a checkpoint whose signature fails (history before it was rewritten)
 *                 or whose signer is not one the caller trusts;
 * - `truncated`   the log ends before a head the caller saw earlier (`expectedHead`).
 * Entries after the last valid checkpoint are counted in `unsignedTail`: someone with write access could rewrite
 * them consistently, so keep checkpoints frequent and record the head elsewhere when it matters.
 *
 * Pure code (no Node built-ins), shared with the broker.
 */
import { checkCheckpoint, CHECKPOINT_ACTION, entryHash, GENESIS_HASH, parseEntry, type AuditEntry } from './entry.ts';

export const AUDIT_PROBLEM_KINDS = Object.freeze(['malformed', 'edited', 'deleted', 'inserted', 'reordered', 'bad-checkpoint', 'untrusted-checkpoint', 'truncated'] as const);
export type AuditProblemKind = (typeof AUDIT_PROBLEM_KINDS)[number];

export interface AuditProblem {
  readonly kind: AuditProblemKind;
  /** 1-based entry (line) number where the problem shows. */
  readonly entry: number;
  readonly seq?: number;
  readonly message: string;
}

export interface AuditVerifyOptions {
  /** Which checkpoint signers are trusted; without it, checkpoints are only checked for a valid signature. */
  readonly isTrustedSigner?: (publicKey: Uint8Array) => boolean;
  /** A head recorded earlier (e.g. by the broker): the log must still contain it unchanged. */
  readonly expectedHead?: { readonly seq: number; readonly hash: string };
}

export interface AuditVerifyReport {
  readonly ok: boolean;
  readonly entries: number;
  readonly checkpoints: number;
  readonly lastCheckpointSeq: number;
  readonly unsignedTail: number;
  readonly head: { readonly seq: number; readonly hash: string } | undefined;
  readonly problems: readonly AuditProblem[];
}

export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function verifyAuditLog(text: string, opts: AuditVerifyOptions = {}): AuditVerifyReport {
  const lines = splitLines(text);
  const problems: AuditProblem[] = [];
  const add = (p: AuditProblem): void => {
    if (!problems.some((q) => q.entry === p.entry && q.kind === p.kind)) problems.push(p);
  };
  const entries: (AuditEntry | undefined)[] = lines.map((l) => parseEntry(l));
  const seqCount = new Map<number, number>();
  const seqLines = new Map<number, number[]>();
  entries.forEach((e, i) => {
    if (e === undefined) return;
    seqCount.set(e.seq, (seqCount.get(e.seq) ?? 0) + 1);
    seqLines.set(e.seq, [...(seqLines.get(e.seq) ?? []), i + 1]);
  });

  let checkpoints = 0;
  let lastCheckpointSeq = 0;
  let prev: AuditEntry | undefined;
  let prevPrev: AuditEntry | undefined;
  const movedLater = new Set<number>();
  entries.forEach((e, i) => {
    const n = i + 1;
    if (e === undefined) {
      add({ kind: 'malformed', entry: n, message: `Entry ${n} is not a valid audit entry (damaged, hand-edited, or a torn write).` });
      return;
    }
    if (entryHash(e) !== e.hash) add({ kind: 'edited', entry: n, seq: e.seq, message: `Entry ${n} (seq ${e.seq}) was changed after it was written: its content does not match its hash.` });
    const expectedSeq = prev === undefined ? 1 : prev.seq + 1;
    const expectedPrev = prev === undefined ? GENESIS_HASH : prev.hash;
    const next = entries[i + 1];
    let advance = true;
    if (e.seq === expectedSeq) {
      if (e.prev !== expectedPrev) {
        if (next !== undefined && next.seq === expectedSeq && next.prev === expectedPrev) {
          add({ kind: 'inserted', entry: n, seq: e.seq, message: `Entry ${n} (seq ${e.seq}) was inserted: it is not part of the hash chain, and the entry after it is.` });
          advance = false;
        } else if (prev !== undefined) {
          add({ kind: 'edited', entry: n - 1, seq: prev.seq, message: `Entry ${n - 1} (seq ${prev.seq}) was replaced or edited with a recomputed hash: entry ${n} recorded a different hash for it.` });
        } else {
          add({ kind: 'edited', entry: n, seq: e.seq, message: `Entry ${n} (seq 1) does not start the chain: the beginning of the log was replaced.` });
        }
      }
    } else if (e.seq > expectedSeq) {
      const missing: number[] = [];
      for (let s = expectedSeq; s < e.seq && missing.length < 1000; s++) missing.push(s);
      const laterLines = missing.flatMap((s) => (seqLines.get(s) ?? []).filter((l) => l > n));
      const sameSeqLater = (seqLines.get(e.seq) ?? []).some((l) => l > n);
      if (sameSeqLater) {
        add({ kind: 'inserted', entry: n, seq: e.seq, message: `Entry ${n} is a copy of the later entry with seq ${e.seq}: it was inserted here.` });
        advance = false;
      } else if (laterLines.length > 0) {
        add({ kind: 'reordered', entry: n, seq: e.seq, message: `Entry ${n} (seq ${e.seq}) is out of order: seq ${expectedSeq} comes later, at entry ${Math.min(...laterLines)}.` });
        for (const s of missing) movedLater.add(s);
      } else {
        const range = missing.length === 1 ? `seq ${expectedSeq}` : `seq ${expectedSeq}-${e.seq - 1}`;
        add({ kind: 'deleted', entry: n, seq: e.seq, message: `${missing.length} entr${missing.length === 1 ? 'y was' : 'ies were'} deleted before entry ${n}: ${range} ${missing.length === 1 ? 'is' : 'are'} missing.` });
      }
    } else {
      // e.seq is at or below the chain head: a late (moved) entry, a duplicate, or an insertion before a genuine one
      advance = false;
      const dup = (seqCount.get(e.seq) ?? 0) > 1;
      if (movedLater.has(e.seq) && !dup) {
        movedLater.delete(e.seq); // already reported where the gap appeared
      } else if (dup && prev !== undefined && e.seq === prev.seq && e.prev === (prevPrev?.hash ?? GENESIS_HASH)) {
        add({ kind: 'inserted', entry: n - 1, seq: prev.seq, message: `Entry ${n - 1} (seq ${prev.seq}) was inserted: the genuine entry ${n} with the same seq chains past it.` });
        advance = true; // the genuine entry replaces the inserted one as the chain head
      } else if (dup) {
        add({ kind: 'inserted', entry: n, seq: e.seq, message: `Entry ${n} repeats seq ${e.seq}: an entry was inserted or duplicated here.` });
      } else {
        add({ kind: 'reordered', entry: n, seq: e.seq, message: `Entry ${n} (seq ${e.seq}) is out of order: it belongs earlier in the log.` });
      }
    }
    if (e.action === CHECKPOINT_ACTION) {
      const pk = checkCheckpoint(e);
      if (pk === undefined) {
        add({ kind: 'bad-checkpoint', entry: n, seq: e.seq, message: `Checkpoint at entry ${n} (seq ${e.seq}) has an invalid signature: entries before it were rewritten (or the checkpoint itself was).` });
      } else if (opts.isTrustedSigner !== undefined && !opts.isTrustedSigner(pk)) {
        add({ kind: 'untrusted-checkpoint', entry: n, seq: e.seq, message: `Checkpoint at entry ${n} is signed by a key you do not trust (${String(e.details?.signerFingerprint)}).` });
      } else {
        checkpoints++;
        lastCheckpointSeq = e.seq;
      }
    }
    if (advance) {
      if (!(prev !== undefined && e.seq === prev.seq)) prevPrev = prev;
      prev = e;
    }
  });

  const last = [...entries].reverse().find((e) => e !== undefined);
  if (opts.expectedHead !== undefined) {
    const h = opts.expectedHead;
    const at = entries.find((e) => e?.seq === h.seq);
    if (at === undefined) {
      add({ kind: 'truncated', entry: lines.length, message: `The log ends at seq ${last?.seq ?? 0}, but seq ${h.seq} was seen before: entries were removed from the end.` });
    } else if (at.hash !== h.hash) {
      add({ kind: 'edited', entry: entries.indexOf(at) + 1, seq: h.seq, message: `Entry seq ${h.seq} differs from the head recorded earlier: history up to it was rewritten.` });
    }
  }
  problems.sort((a, b) => a.entry - b.entry);
  return {
    ok: problems.length === 0,
    entries: lines.length,
    checkpoints,
    lastCheckpointSeq,
    unsignedTail: last === undefined ? 0 : Math.max(0, last.seq - lastCheckpointSeq),
    head: last === undefined ? undefined : { seq: last.seq, hash: last.hash },
    problems,
  };
}
