/**
 * The broker's audit log in the app's audit format (`app/audit/entry.ts`: same canonical encoding, hash chaining and
 * signed checkpoints), split into chains (README §9):
 * - one chain per published model (`model:<id>`): every decision about that model, so the model's producer gets a
 *   complete chain (sequence 1…n, no gaps) that verifies on its own;
 * - one `broker` chain for everything else (enrollment, invites, devices, failed authentications, requests naming
 *   a model that does not exist).
 * An entry's chain follows from its content: `details.model` names the model chain, its absence means `broker`. So an
 * entry moved to another chain breaks its hash, and the verifier can regroup a flat list of entries by itself.
 * Checkpoints are signed by the broker's Ed25519 signing key, and a model chain's checkpoints carry `details.model`.
 *
 * Pure: the broker client verifies the chains it downloads with the same code as `model-vault broker audit --verify`.
 */
import { ctEqual } from '../crypto/bytes.ts';
import { type AuditDetailValue, type AuditEntry, type AuditEvent, type AuditResult, MAX_FIELD_CHARS, serializeEntry } from '../audit/entry.ts';
import { type AuditVerifyReport, verifyAuditLog } from '../audit/verify.ts';

export type { AuditEntry } from '../audit/entry.ts';
export { GENESIS_HASH } from '../audit/entry.ts';

export const BROKER_CHAIN = 'broker';
/** `GET /v1/audit` answers at most this many entries per page. */
export const AUDIT_PAGE_ENTRIES = 1000;
/** A signed checkpoint after at most this many entries of a chain. */
export const CHECKPOINT_EVERY = 64;

export function modelChain(modelId: string): string {
  return `model:${modelId}`;
}

/** The chain an entry belongs to. */
export function chainOf(e: AuditEntry): string {
  const m = e.details?.model;
  return typeof m === 'string' ? modelChain(m) : BROKER_CHAIN;
}

/** What a broker decision records; turned into an app audit event by `brokerAuditEvent`. */
export interface BrokerAuditFields {
  readonly actor: string;
  readonly action: string;
  readonly object: string;
  /** The model the decision is about, when it exists on the broker (else the entry goes to the broker chain). */
  readonly model: string | null;
  readonly result: AuditResult;
  readonly details?: Readonly<Record<string, AuditDetailValue>>;
}

/** Printable, bounded text for entry fields that may hold client-chosen strings (the app format refuses the rest). */
export function auditText(text: string): string {
  let out = '';
  for (const ch of text.slice(0, MAX_FIELD_CHARS)) {
    const c = ch.charCodeAt(0);
    out += c < 0x20 || c === 0x7f ? '?' : ch;
  }
  return out === '' ? '-' : out;
}

export function brokerAuditEvent(f: BrokerAuditFields): AuditEvent {
  const details: Record<string, AuditDetailValue> = {};
  for (const [k, v] of Object.entries(f.details ?? {})) details[k] = typeof v === 'string' ? auditText(v) : v;
  if (f.model !== null) details.model = f.model;
  else delete details.model;
  return {
    actor: auditText(f.actor), action: f.action, object: auditText(f.object), result: f.result,
    ...(Object.keys(details).length === 0 ? {} : { details }),
  };
}

export interface ChainReport extends AuditVerifyReport {
  readonly chain: string;
}

export interface BrokerAuditVerifyOptions {
  /**
   * The broker's signing key. Without it, every checkpoint of every chain must carry the same signer (the first one
   * seen is then reported in `signerFingerprints` for the operator to compare with `GET /v1/info`).
   */
  readonly brokerSignPub?: Uint8Array;
}

export type ChainVerdict =
  | { readonly ok: true; readonly count: number; readonly head: string; readonly chains: readonly ChainReport[] }
  | { readonly ok: false; readonly seq: number; readonly problem: string; readonly chain: string; readonly chains: readonly ChainReport[] };

/** Verifies one chain (entries in stored order) with the app's verifier; `pinned` keeps the signer seen first. */
export function verifyChainEntries(chain: string, lines: readonly string[], opts: BrokerAuditVerifyOptions, pinned: { key?: Uint8Array } = {}): ChainReport {
  const isTrustedSigner = (pk: Uint8Array): boolean => {
    if (opts.brokerSignPub !== undefined) return ctEqual(pk, opts.brokerSignPub);
    if (pinned.key === undefined) pinned.key = pk;
    return ctEqual(pk, pinned.key);
  };
  const report = verifyAuditLog(lines.length === 0 ? '' : lines.join('\n') + '\n', { isTrustedSigner });
  return { ...report, chain };
}

/**
 * Verifies a flat list of broker entries (any number of chains, each in order): groups them by `chainOf`, runs the
 * app verifier on each, and reports the first problem. `head` is the hash of the broker chain's last entry.
 */
export function verifyAuditChain(entries: Iterable<AuditEntry>, opts: BrokerAuditVerifyOptions = {}): ChainVerdict {
  const byChain = new Map<string, string[]>();
  for (const e of entries) {
    const c = chainOf(e);
    let lines = byChain.get(c);
    if (lines === undefined) byChain.set(c, (lines = []));
    lines.push(serializeEntry(e));
  }
  const pinned: { key?: Uint8Array } = {};
  const chains = [...byChain].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([c, lines]) => verifyChainEntries(c, lines, opts, pinned));
  return summarize(chains);
}

export function summarize(chains: readonly ChainReport[]): ChainVerdict {
  const sorted = [...chains].sort((a, b) => (a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : 0));
  for (const r of sorted) {
    const p = r.problems[0];
    if (p !== undefined) return { ok: false, seq: p.seq ?? p.entry, problem: `${r.chain}: ${p.message}`, chain: r.chain, chains: sorted };
  }
  const count = sorted.reduce((n, r) => n + r.entries, 0);
  const head = sorted.find((r) => r.chain === BROKER_CHAIN)?.head?.hash ?? sorted[0]?.head?.hash ?? '';
  return { ok: true, count, head, chains: sorted };
}
