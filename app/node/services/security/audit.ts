/**
 * The security view's audit trail: every act (create a key, change a keyset, unlock, plan, rotate, export a bundle,
 * sign a checkpoint) is appended to the app's audit log, failures included, as the CLI does (app/node/cli/keys.ts).
 * Checkpoints are signed with MODEL_VAULT_AUDIT_KID when it names a signing key, every
 * MODEL_VAULT_AUDIT_CHECKPOINT_EVERY entries. Also builds the viewer's page of the log with its verification.
 */
import { isAppError } from '../../../errors.ts';
import type { AuditRow, AuditView } from '../../../ipc/ops/security.ts';
import { fingerprintOfPublicKey, type SigningKey } from '../../../keys/key.ts';
import { actorFromEnv } from '../../audit/actor.ts';
import { CHECKPOINT_ACTION, parseEntry, type AuditDetailValue, type AuditEntry, type AuditResult } from '../../audit/entry.ts';
import { AuditLog, readAuditLogText } from '../../audit/log.ts';
import { splitLines, verifyAuditLog } from '../../audit/verify.ts';
import { auditLogPath, type Env } from '../../keys/paths.ts';
import type { SecurityStores } from './stores.ts';

export interface AuditOutcome<T> {
  readonly value: T;
  readonly object?: string;
  readonly details?: Record<string, AuditDetailValue>;
}

export class SecurityAudit {
  readonly #env: Env;
  readonly #stores: SecurityStores;

  constructor(env: Env, stores: SecurityStores) {
    this.#env = env;
    this.#stores = stores;
  }

  get path(): string {
    return auditLogPath(this.#env);
  }

  get actor(): string {
    return actorFromEnv(this.#env);
  }

  async #signer(): Promise<SigningKey | undefined> {
    const kid = this.#env.MODEL_VAULT_AUDIT_KID;
    if (kid === undefined || kid === '') return undefined;
    try {
      return await this.#stores.load(kid, 'signing');
    } catch (e) {
      if (isAppError(e)) return undefined; // like the CLI: a missing audit key leaves checkpoints unsigned, never fails the act
      throw e;
    }
  }

  async log(): Promise<AuditLog> {
    const signer = await this.#signer();
    const n = Number(this.#env.MODEL_VAULT_AUDIT_CHECKPOINT_EVERY ?? '50');
    return new AuditLog(this.path, { ...(signer === undefined ? {} : { signer }), checkpointEvery: Number.isInteger(n) && n >= 1 ? n : 50 });
  }

  /** Runs an act and records it: ok with its details, or denied/failed with the error code. */
  async record<T>(action: string, object: string, body: () => Promise<AuditOutcome<T>>): Promise<T> {
    const log = await this.log();
    let outcome: AuditOutcome<T>;
    try {
      outcome = await body();
    } catch (e) {
      const code = isAppError(e) ? e.code : 'INTERNAL';
      const result: AuditResult = code === 'PASSPHRASE_WRONG' || code === 'KEYSTORE_LOCKED' || code === 'AUTH_FAILED' ? 'denied' : code === 'CANCELLED' ? 'denied' : 'failed';
      await log.append({ actor: this.actor, action, object: object.slice(0, 500) || '-', result, details: { code } }).catch(() => undefined);
      throw e;
    }
    await log.append({ actor: this.actor, action, object: (outcome.object ?? object).slice(0, 500) || '-', result: 'ok', ...(outcome.details === undefined ? {} : { details: outcome.details }) });
    return outcome.value;
  }

  async entries(): Promise<AuditEntry[]> {
    return splitLines(await readAuditLogText(this.path)).map((l) => parseEntry(l)).filter((e): e is AuditEntry => e !== undefined);
  }
}

export interface AuditFilter {
  readonly limit?: number | undefined;
  readonly action?: string | undefined;
  readonly actor?: string | undefined;
  readonly result?: string | undefined;
  readonly text?: string | undefined;
  readonly problemsOnly?: boolean | undefined;
}

/** The viewer's page: verification of the whole log, then the entries that match the filters, newest first. */
export function auditView(path: string, text: string, filter: AuditFilter, ourSigners: ReadonlyMap<string, string>, trusted: ReadonlySet<string>): AuditView {
  const lines = splitLines(text);
  const report = verifyAuditLog(text, trusted.size === 0 ? {} : { isTrustedSigner: (pk) => trusted.has(fingerprintOfPublicKey(pk)) });
  const problemsAt = new Map<number, string[]>();
  for (const p of report.problems) problemsAt.set(p.entry, [...(problemsAt.get(p.entry) ?? []), p.message]);
  const rows: AuditRow[] = lines.map((line, i) => {
    const e = parseEntry(line);
    const problems = problemsAt.get(i + 1) ?? [];
    if (e === undefined) return { entry: i + 1, seq: null, time: '', actor: '', action: '(damaged entry)', object: '', result: 'failed', details: {}, checkpoint: false, problems };
    return { entry: i + 1, seq: e.seq, time: e.time, actor: e.actor, action: e.action, object: e.object, result: e.result, details: e.details ?? {}, checkpoint: e.action === CHECKPOINT_ACTION, problems };
  });
  const signers = new Map<string, string | null>();
  for (const r of rows) {
    if (!r.checkpoint || r.problems.length > 0) continue;
    const fp = r.details.signerFingerprint;
    if (typeof fp === 'string') signers.set(fp, typeof r.details.signerKid === 'string' ? r.details.signerKid : null);
  }
  const needle = filter.text?.toLowerCase().trim() ?? '';
  const matched = rows.filter(
    (r) =>
      (filter.action === undefined || filter.action === '' || r.action === filter.action) &&
      (filter.actor === undefined || filter.actor === '' || r.actor === filter.actor) &&
      (filter.result === undefined || r.result === filter.result) &&
      (filter.problemsOnly !== true || r.problems.length > 0) &&
      (needle === '' || [r.action, r.object, r.actor, ...Object.values(r.details).map(String)].some((s) => s.toLowerCase().includes(needle))),
  );
  const uniq = (xs: string[]): string[] => [...new Set(xs.filter((x) => x !== ''))].sort();
  return {
    path,
    total: lines.length,
    matched: matched.length,
    entries: matched.reverse().slice(0, filter.limit ?? 200),
    actions: uniq(rows.map((r) => r.action)),
    actors: uniq(rows.map((r) => r.actor)),
    verification: {
      ok: report.ok,
      entries: report.entries,
      checkpoints: report.checkpoints,
      lastCheckpointSeq: report.lastCheckpointSeq,
      unsignedTail: report.unsignedTail,
      head: report.head ?? null,
      problems: report.problems.map((p) => ({ kind: p.kind, entry: p.entry, ...(p.seq === undefined ? {} : { seq: p.seq }), message: p.message })),
      signers: [...signers].map(([fingerprint, kid]) => ({ fingerprint, kid: ourSigners.get(fingerprint) ?? kid, ours: ourSigners.has(fingerprint) })),
    },
  };
}
