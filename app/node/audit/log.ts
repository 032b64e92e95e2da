/**
 * The append-only audit log file (MODEL_VAULT_AUDIT_LOG, default <home>/audit.log). Entry format: `entry.ts`.
 *
 * `append` takes the file lock, reads the last entry (only the file's tail), writes one line with O_APPEND and
 * fsyncs. With a checkpoint signer, a signed checkpoint follows every `checkpointEvery` entries (default 50), and
 * `checkpoint()` adds one on demand (the CLI does so at the end of each key command).
 */
import { constants, promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { AppError } from '../../errors.ts';
import type { SigningKey } from '../../keys/key.ts';
import { withFileLock } from '../atomic.ts';
import { auditLogPath, type Env } from '../keys/paths.ts';
import { type AuditEntry, type AuditEvent, CHECKPOINT_ACTION, makeCheckpoint, makeEntry, parseEntry, serializeEntry } from './entry.ts';
import { verifyAuditLog, type AuditVerifyOptions, type AuditVerifyReport } from './verify.ts';

const TAIL_BYTES = 64 * 1024;

export interface AuditLogOptions {
  /** Signs checkpoints; without it the log is hash-chained but unsigned. */
  readonly signer?: SigningKey;
  readonly checkpointEvery?: number;
  readonly now?: () => Date;
}

async function readLastEntry(path: string): Promise<{ entry: AuditEntry | undefined; sinceCheckpoint: number | undefined }> {
  let h: fs.FileHandle | undefined;
  try {
    h = await fs.open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { entry: undefined, sinceCheckpoint: 0 };
    throw new AppError('IO_ERROR', `Could not read the audit log ${path}.`, { cause: e });
  }
  try {
    const { size } = await h.stat();
    if (size === 0) return { entry: undefined, sinceCheckpoint: 0 };
    const len = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(len);
    await h.read(buf, 0, len, size - len);
    const text = buf.toString('utf8');
    if (!text.endsWith('\n')) throw new AppError('AUDIT_TAMPERED', `The audit log ${path} ends with an incomplete entry. Run "model-vault audit verify" and keep a copy of the file before repairing it.`);
    const lines = text.slice(0, -1).split('\n');
    const entry = parseEntry(lines[lines.length - 1] ?? '');
    if (entry === undefined) throw new AppError('AUDIT_TAMPERED', `The last entry of the audit log ${path} is damaged. Run "model-vault audit verify".`);
    // entries since the last checkpoint, if one is within the tail we read
    const complete = len === size ? lines : lines.slice(1);
    let since: number | undefined;
    for (let i = complete.length - 1, n = 0; i >= 0; i--, n++) {
      if (parseEntry(complete[i] as string)?.action === CHECKPOINT_ACTION) {
        since = n;
        break;
      }
    }
    return { entry, sinceCheckpoint: since ?? (len === size ? complete.length : undefined) };
  } finally {
    await h.close();
  }
}

async function appendLine(path: string, line: string): Promise<void> {
  const h = await fs.open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  try {
    await h.write(line + '\n');
    await h.sync();
  } finally {
    await h.close();
  }
}

export class AuditLog {
  readonly path: string;
  readonly #signer: SigningKey | undefined;
  readonly #every: number;
  readonly #now: () => Date;

  constructor(path: string, opts: AuditLogOptions = {}) {
    this.path = path;
    this.#signer = opts.signer;
    this.#every = opts.checkpointEvery ?? 50;
    this.#now = opts.now ?? (() => new Date());
  }

  async append(event: AuditEvent): Promise<AuditEntry> {
    await fs.mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    return withFileLock(this.path, async () => {
      const { entry: last, sinceCheckpoint } = await readLastEntry(this.path);
      const entry = makeEntry(event, last, this.#now());
      await appendLine(this.path, serializeEntry(entry));
      if (this.#signer !== undefined && (sinceCheckpoint === undefined || sinceCheckpoint + 1 >= this.#every)) {
        await appendLine(this.path, serializeEntry(makeCheckpoint(this.#signer, entry, this.#now(), event.actor)));
      }
      return entry;
    });
  }

  /** Appends a signed checkpoint now (no-op without a signer or when the last entry already is one). */
  async checkpoint(actor: string): Promise<AuditEntry | undefined> {
    const signer = this.#signer;
    if (signer === undefined) return undefined;
    return withFileLock(this.path, async () => {
      const { entry: last } = await readLastEntry(this.path);
      if (last === undefined || last.action === CHECKPOINT_ACTION) return undefined;
      const cp = makeCheckpoint(signer, last, this.#now(), actor);
      await appendLine(this.path, serializeEntry(cp));
      return cp;
    });
  }
}

export async function readAuditLogText(path: string): Promise<string> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new AppError('IO_ERROR', `Could not read the audit log ${path}.`, { cause: e });
  }
}

export async function verifyAuditLogFile(path: string, opts: AuditVerifyOptions = {}): Promise<AuditVerifyReport> {
  return verifyAuditLog(await readAuditLogText(path), opts);
}

/** The audit log at the configured place (MODEL_VAULT_AUDIT_LOG, default <home>/audit.log), for any module to use. */
export function defaultAuditLog(env: Env, opts: AuditLogOptions = {}): AuditLog {
  return new AuditLog(auditLogPath(env), opts);
}
