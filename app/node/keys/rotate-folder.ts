/**
 * Offline folder key rotation (issue 5 item 4): every CryptoTensors model in a folder (single files and sharded
 * model folders) is rewrapped under a new master key and/or re-signed with a new signing key, on an air-gapped
 * machine, and the result is carried to the broker as a signed rotation bundle.
 *
 * - `planRotation` is the dry run: which files change (their wrapped DEKs and their signature), which tensors'
 *   wrapped keys change, and what stays untouched (every data section byte, plaintext tensors, config/tokenizer files).
 * - `rotateFolder` applies it. Each file is rewrapped by `rewrapModel` (temp, fsync, rename: atomic per file), so at
 *   any instant every file is valid under the old keys or under the new ones, never broken. Progress is kept in a
 *   journal (JSON, written atomically) holding the plan, the key ids and fingerprints (never key bytes) and which files
 *   are done; a rerun after an interruption (crash, kill -9, power loss) resumes from it. A file committed just before
 *   the journal was updated is recognised by its header (it opens under the new keys) and counted as done.
 * - Keysets: the new keys are `add`ed (staged) before the first file is touched, and `promote`d only after every file
 *   is rewrapped and every model verified under the new keys alone. The old keys become `previous` and are kept until
 *   someone retires them explicitly.
 * - A sharded folder is rewrapped shard by shard: while a rotation runs, a folder may hold shards under the old key
 *   and shards under the new one. Each shard is valid on its own and the folder manifest is unchanged, so a reader
 *   holding both keys (the keyset keeps both readable until the old one is retired) reads it; after the rotation
 *   completes every shard is under the new key.
 * - Every step goes to the audit log (kids, fingerprints, paths, counts; nothing secret).
 */
import { promises as fs } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { AppError, isAppError, type ErrorCode } from '../../errors.ts';
import type { ModelHeader } from '../../format/reader.ts';
import type { MasterKey as CodecMasterKey, SigningKey as CodecSigningKey, VerifyKey } from '../../format/keys.ts';
import { addKey, promoteKey, type Keyset, type KeysetPurpose } from '../../keys/keyset.ts';
import { describeKey, fingerprintOf, fingerprintOfPublicKey, type MasterKey, type SigningKey } from '../../keys/key.ts';
import { toB64std } from '../../crypto/encoding.ts';
import { headerSha256, newBundleId, serializeRotationBundle, signRotationBundle, wrapKeyForRecipient, type EncChange, type ModelChange, type RotationBundle, type RotationBundleBody, type SignChange } from '../../keys/rotation-bundle.ts';
import type { AuditDetailValue, AuditResult } from '../audit/entry.ts';
import type { AuditLog } from '../audit/log.ts';
import { openFileSource, readModelHeader } from '../format/file-source.ts';
import { openModel } from '../format/open-model.ts';
import { folderLayout } from '../format/package.ts';
import { rewrapModel } from '../format/rotate.ts';
import { verifyModel, type VerifyProblem } from '../format/verify.ts';
import { readTextIfExists, TEMP_MARK, writeFileAtomic } from '../atomic.ts';

export const ROTATION_JOURNAL_FORMAT = 'model-vault/rotation-journal';
/** The journal's file name inside the rotated folder (or beside it, when the folder is itself one sharded model). */
export const JOURNAL_NAME = '.model-vault-rotation.json';
const SAFETENSORS = '.safetensors';

// ---------------------------------------------------------------------------------------------------------------
// types

/** A trusted signer's public key (a private signing key also does: only its public half is used). */
export interface TrustedSigner {
  readonly publicKey: Uint8Array;
  readonly kid?: string;
}

export interface PlanOptions {
  /** The current master key(s); a file is matched by its header's enc kid. */
  readonly oldMasterKeys: readonly MasterKey[];
  readonly newMasterKey?: MasterKey;
  /** The new signing key; without it files are re-signed with `oldSigningKey`. */
  readonly newSigningKey?: SigningKey;
  /** The current signing key (private): re-signs when the signing key does not change, and co-signs the bundle. */
  readonly oldSigningKey?: SigningKey;
  /** Signers whose signatures are accepted on the current files. */
  readonly trustedSigners: readonly TrustedSigner[];
  /** Journal path; default `<folder>/.model-vault-rotation.json` (beside the folder when it is one sharded model). */
  readonly journal?: string;
}

export type PlannedStatus = 'rewrap' | 'done' | 'skip';

export interface PlannedFile {
  /** Path relative to the rotated folder, `/`-separated. */
  readonly path: string;
  /** The model it belongs to: itself for a single file, the folder (relative, `.` for the root) for a shard. */
  readonly model: string;
  /** rewrap: will change; done: already under the new keys; skip: not encrypted, left untouched. */
  readonly status: PlannedStatus;
  readonly alg: string | null;
  readonly encKid: string | null;
  readonly signer: { readonly kid?: string; readonly fingerprint: string } | null;
  readonly tensors: number;
  /** Encrypted tensors: their wrapped DEK (key_iv, wrapped key, tag) changes; their ciphertext, iv/tag do not. */
  readonly wrappedKeysChange: readonly string[];
  /** Plaintext tensors: untouched (their signed digests stay). */
  readonly plainTensors: readonly string[];
  /** True when the header is re-signed (every rewrapped file). */
  readonly signatureChanges: boolean;
  /** Bytes of the data section, copied unchanged. */
  readonly dataBytesUntouched: number;
  readonly headerSha256: string;
}

export interface PlannedModel {
  readonly path: string;
  readonly kind: 'file' | 'folder';
  readonly files: readonly string[];
  /** Non-safetensors files of a model folder (config, tokenizer…): untouched; the signed manifest is kept. */
  readonly untouchedFiles: readonly string[];
}

export interface KeyChangeSummary {
  readonly oldKids: readonly string[];
  readonly oldFingerprints: readonly string[];
  readonly newKid: string;
  readonly newFingerprint: string;
}

export interface RotationPlan {
  readonly folder: string;
  readonly journal: string;
  readonly enc: (KeyChangeSummary & { readonly alg: string }) | null;
  readonly sign: KeyChangeSummary | null;
  readonly models: readonly PlannedModel[];
  readonly files: readonly PlannedFile[];
  /** Files outside any model (left as they are). */
  readonly otherFiles: readonly string[];
  readonly problems: readonly VerifyProblem[];
  readonly totals: { readonly filesToRewrap: number; readonly filesDone: number; readonly filesSkipped: number; readonly wrappedKeysChanging: number; readonly signaturesChanging: number; readonly dataBytesUntouched: number };
}

export type RotationPhase = 'rewrapping' | 'verified' | 'promoted' | 'complete';

export interface JournalFile {
  readonly path: string;
  readonly model: string;
  readonly tensors: number;
  readonly oldHeaderSha256: string;
  readonly state: 'pending' | 'done';
  readonly newHeaderSha256?: string;
}

/** The journal: plan, key ids and fingerprints (never key bytes), per-file progress. */
export interface RotationJournal {
  readonly format: typeof ROTATION_JOURNAL_FORMAT;
  readonly version: 1;
  readonly rotationId: string;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly phase: RotationPhase;
  readonly enc: (KeyChangeSummary & { readonly alg: string }) | null;
  readonly sign: KeyChangeSummary | null;
  readonly models: readonly PlannedModel[];
  readonly files: readonly JournalFile[];
}

/** Where staged and promoted keys are recorded (app/node/keys/keyset-file.ts on disk; any store in tests). */
export interface KeysetPort {
  update(purpose: KeysetPurpose, change: (ks: Keyset) => Keyset): Promise<Keyset>;
}

export interface RotationProgress {
  readonly phase: 'plan' | 'rewrap' | 'verify' | 'promote' | 'bundle' | 'done';
  readonly filesDone: number;
  readonly filesTotal: number;
  readonly file?: string;
}

export interface BrokerRecipient {
  readonly id: string;
  /** X25519 public key (32 bytes). */
  readonly publicKey: Uint8Array;
}

export interface RotateOptions extends PlanOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: RotationProgress) => void;
  readonly audit?: { readonly log: AuditLog; readonly actor: string };
  readonly keysets?: KeysetPort;
  /** Broker keys the new master key is wrapped for in the bundle. */
  readonly brokerRecipients?: readonly BrokerRecipient[];
  /** Write the signed bundle here (atomically). */
  readonly bundleOut?: string;
  readonly producer?: string;
  /** M-of-N split parameters of the new master key, recorded in the bundle (never the shares). */
  readonly approval?: { readonly threshold: number; readonly total: number };
  /** Full decrypting verification of every model at the end (default true). */
  readonly fullVerify?: boolean;
  /** Test hook: called after each file is committed and journaled. */
  readonly afterFile?: (path: string) => void | Promise<void>;
  readonly now?: () => Date;
}

export interface RotationReport {
  readonly folder: string;
  readonly rotationId: string;
  readonly journal: string;
  readonly resumed: boolean;
  readonly enc: RotationJournal['enc'];
  readonly sign: RotationJournal['sign'];
  readonly files: readonly { readonly path: string; readonly model: string; readonly result: 'rewrapped' | 'already-done' | 'skipped'; readonly oldHeaderSha256?: string; readonly newHeaderSha256?: string }[];
  readonly models: readonly { readonly path: string; readonly ok: boolean }[];
  readonly keysets: { readonly enc?: string; readonly sign?: string };
  readonly bundle: RotationBundle;
  readonly bundlePath?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// helpers

function toCodecSigner(k: SigningKey): CodecSigningKey {
  if (k.seed === undefined) throw new AppError('KEY_INVALID', `Signing key ${k.kid ?? '(no kid)'} is verify-only: import its private half to sign.`);
  return { publicKey: k.publicKey, seed: k.seed, ...(k.kid === undefined ? {} : { kid: k.kid }) };
}

function verifyKeys(signers: readonly TrustedSigner[]): VerifyKey[] {
  return signers.map((s) => ({ publicKey: s.publicKey, ...(s.kid === undefined ? {} : { kid: s.kid }) }));
}

function posix(p: string): string {
  return p.split(sep).join('/');
}

function uniq(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

async function readHeader(path: string): Promise<{ headerSha256: string; parsed: ModelHeader }> {
  const src = await openFileSource(path);
  try {
    const { bytes, parsed } = await readModelHeader(src);
    return { headerSha256: headerSha256(bytes), parsed };
  } finally {
    await src.close?.();
  }
}

/** The writing signer: the new signing key, else the current one. */
function writerOf(o: PlanOptions): SigningKey {
  const w = o.newSigningKey ?? o.oldSigningKey;
  if (w === undefined) throw new AppError('VALIDATION', 'Rotation re-signs every file: give the new signing key, or the current signing key when only the master key changes.');
  if (w.seed === undefined) throw new AppError('KEY_INVALID', `Signing key ${w.kid ?? '(no kid)'} is verify-only: import its private half to sign.`);
  return w;
}

function checkOptions(o: PlanOptions): void {
  if (o.oldMasterKeys.length === 0) throw new AppError('VALIDATION', 'Give the current master key(s): they unwrap the data keys that are rewrapped.');
  if (o.newMasterKey === undefined && o.newSigningKey === undefined) throw new AppError('VALIDATION', 'Nothing to rotate: give a new master key, a new signing key, or both.');
  if (o.trustedSigners.length === 0) throw new AppError('VALIDATION', 'Give the trusted signer key(s) of the current files, so their signatures can be checked before rewrapping.');
  const nm = o.newMasterKey;
  if (nm !== undefined) {
    if (nm.kid === undefined) throw new AppError('VALIDATION', 'The new master key needs a kid (files name their key by kid).');
    const fp = fingerprintOf(nm);
    for (const k of o.oldMasterKeys) {
      if (k.kid === nm.kid) throw new AppError('VALIDATION', `The new master key must have a new kid; ${nm.kid} is a current key's kid.`);
      if (fingerprintOf(k) === fp) throw new AppError('VALIDATION', 'The new master key is one of the current keys: generate a fresh one.');
      if (k.alg !== nm.alg) throw new AppError('KEY_ALG_MISMATCH', `The new master key must use ${k.alg}, the current key's algorithm (rewrap cannot change it; use reencrypt).`);
    }
  }
  const ns = o.newSigningKey;
  if (ns !== undefined) {
    if (ns.kid === undefined) throw new AppError('VALIDATION', 'The new signing key needs a kid.');
    if (o.oldSigningKey !== undefined && fingerprintOf(o.oldSigningKey) === fingerprintOf(ns)) throw new AppError('VALIDATION', 'The new signing key is the current one: generate a fresh one ("model-vault keys new --alg ed25519").');
    if (o.newMasterKey === undefined && o.trustedSigners.every((t) => fingerprintOfPublicKey(t.publicKey) === fingerprintOf(ns))) {
      throw new AppError('VALIDATION', 'The new signing key is the only trusted signer of the current files: nothing would change. Give the current signer with --trust.');
    }
  }
  writerOf(o);
}

export function defaultJournalPath(folder: string, folderIsModel: boolean): string {
  const abs = resolve(folder);
  return folderIsModel ? join(dirname(abs), `.${basename(abs)}${JOURNAL_NAME}`) : join(abs, JOURNAL_NAME);
}

async function hasManifest(dir: string, names: readonly string[]): Promise<boolean> {
  for (const n of names) {
    if (!n.endsWith(SAFETENSORS)) continue;
    try {
      if ((await readHeader(join(dir, n))).parsed.manifestText !== null) return true;
    } catch (e) {
      if (!isAppError(e)) throw e;
    }
  }
  return false;
}

/** Finds the models: a folder whose own .safetensors carry a folder manifest is one model; other .safetensors files are single-file models. */
export async function discoverModels(root: string): Promise<{ rootIsModel: boolean; models: PlannedModel[]; others: string[] }> {
  const models: PlannedModel[] = [];
  const others: string[] = [];
  const walk = async (dir: string, isRoot: boolean): Promise<boolean> => {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (e) {
      throw new AppError('IO_ERROR', `Could not read the folder ${dir} (${(e as NodeJS.ErrnoException).code ?? 'error'}). Check the path.`, { cause: e });
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const files = entries.filter((e) => e.isFile() && !e.name.includes(TEMP_MARK)).map((e) => e.name);
    const rel = posix(relative(root, dir)) || '.';
    if (await hasManifest(dir, files)) {
      const layout = await folderLayout(dir);
      const prefix = rel === '.' ? '' : `${rel}/`;
      models.push({ path: rel, kind: 'folder', files: layout.shards.map((s) => prefix + s), untouchedFiles: layout.others.map((s) => prefix + s) });
      return true;
    }
    for (const f of files) {
      const p = posix(relative(root, join(dir, f)));
      if (isRoot && f.includes(JOURNAL_NAME.slice(1, -5))) continue; // the journal and its temp files
      if (f.endsWith(SAFETENSORS)) models.push({ path: p, kind: 'file', files: [p], untouchedFiles: [] });
      else others.push(p);
    }
    for (const d of entries.filter((e) => e.isDirectory() && !e.name.includes(TEMP_MARK) && e.name !== '.git')) await walk(join(dir, d.name), false);
    return false;
  };
  const rootIsModel = await walk(root, true);
  return { rootIsModel, models, others };
}

function masterFor(keys: readonly MasterKey[], kid: string | undefined): MasterKey | undefined {
  if (kid === undefined) return keys.length === 1 ? keys[0] : undefined;
  return keys.find((k) => k.kid === kid);
}

async function opensWith(path: string, masterKeys: readonly CodecMasterKey[], trusted: readonly VerifyKey[]): Promise<{ signer: { kid?: string; fingerprint: string } | null }> {
  const h = await openModel(path, { masterKeys, trustedSigners: trusted, parallel: false });
  try {
    return { signer: h.signer };
  } finally {
    await h.close();
  }
}

/** Is this file already in the new state (new enc kid if the master key rotates, signed by the writer)? */
async function isRotated(abs: string, encKid: string | undefined, o: PlanOptions, writer: SigningKey): Promise<boolean> {
  if (o.newMasterKey !== undefined && encKid !== o.newMasterKey.kid) return false;
  try {
    await opensWith(abs, o.newMasterKey === undefined ? o.oldMasterKeys : [o.newMasterKey], [{ publicKey: writer.publicKey }]);
    return true;
  } catch (e) {
    if (isAppError(e)) return false;
    throw e;
  }
}

async function planFile(root: string, path: string, model: string, o: PlanOptions, writer: SigningKey): Promise<PlannedFile | VerifyProblem> {
  const abs = join(root, path);
  let head;
  try {
    head = await readHeader(abs);
  } catch (e) {
    if (isAppError(e)) return { path, code: e.code, message: e.message };
    throw e;
  }
  const { header, crypto } = head.parsed;
  const names = header.tensors.map((t) => t.name);
  const base = { path, model, tensors: names.length, dataBytesUntouched: header.dataLength, headerSha256: head.headerSha256 };
  if (crypto === null) {
    return { ...base, status: 'skip', alg: null, encKid: null, signer: null, wrappedKeysChange: [], plainTensors: names, signatureChanges: false };
  }
  const encKid = crypto.keys.enc.kid;
  const wrapped = names.filter((n) => crypto.entries.has(n));
  const plain = names.filter((n) => !crypto.entries.has(n));
  const info = { alg: crypto.keys.enc.alg, encKid: encKid ?? null, wrappedKeysChange: wrapped, plainTensors: plain };
  if (await isRotated(abs, encKid, o, writer)) {
    return { ...base, ...info, status: 'done', signer: { ...(writer.kid === undefined ? {} : { kid: writer.kid }), fingerprint: fingerprintOf(writer) }, wrappedKeysChange: [], signatureChanges: false };
  }
  const old = masterFor(o.oldMasterKeys, encKid);
  if (old === undefined) return { path, code: 'KEY_NOT_FOUND', message: `No current master key has this file's kid (${encKid ?? 'none'}). Give it with the old keys.` };
  try {
    const { signer } = await opensWith(abs, [old], verifyKeys(o.trustedSigners));
    return { ...base, ...info, status: 'rewrap', signer, signatureChanges: true };
  } catch (e) {
    if (isAppError(e)) return { path, code: e.code, message: e.message };
    throw e;
  }
}

function keyChanges(o: PlanOptions, files: readonly PlannedFile[], writer: SigningKey): Pick<RotationPlan, 'enc' | 'sign'> {
  const current = files.filter((f) => f.status === 'rewrap');
  const nm = o.newMasterKey;
  const enc = nm === undefined ? null : {
    oldKids: uniq(current.map((f) => f.encKid ?? '(none)')),
    oldFingerprints: uniq(current.map((f) => masterFor(o.oldMasterKeys, f.encKid ?? undefined)).filter((k): k is MasterKey => k !== undefined).map((k) => fingerprintOf(k))),
    newKid: nm.kid as string,
    newFingerprint: fingerprintOf(nm),
    alg: nm.alg,
  };
  const ns = o.newSigningKey;
  const sign = ns === undefined ? null : {
    oldKids: uniq(current.map((f) => f.signer?.kid ?? '(none)')),
    oldFingerprints: uniq(current.flatMap((f) => (f.signer === null ? [] : [f.signer.fingerprint]))),
    newKid: writer.kid as string,
    newFingerprint: fingerprintOf(writer),
  };
  return { enc, sign };
}

// ---------------------------------------------------------------------------------------------------------------
// dry run

/** The dry run: reads and checks every model (signature, master key unwraps its data keys) and changes nothing. */
export async function planRotation(folder: string, options: PlanOptions): Promise<RotationPlan> {
  checkOptions(options);
  const root = resolve(folder);
  const st = await fs.stat(root).catch(() => null);
  if (st?.isDirectory() !== true) throw new AppError('NOT_FOUND', `${folder} is not a folder. Give the folder that holds the models to rotate.`);
  const writer = writerOf(options);
  const { rootIsModel, models, others } = await discoverModels(root);
  if (models.length === 0) throw new AppError('VALIDATION', `No .safetensors models in ${folder}.`);
  const files: PlannedFile[] = [];
  const problems: VerifyProblem[] = [];
  for (const m of models) {
    for (const f of m.files) {
      const r = await planFile(root, f, m.path, options, writer);
      if ('status' in r) files.push(r);
      else problems.push(r);
    }
  }
  const rewrap = files.filter((f) => f.status === 'rewrap');
  return {
    folder: root,
    journal: options.journal === undefined ? defaultJournalPath(root, rootIsModel) : resolve(options.journal),
    ...keyChanges(options, files, writer),
    models,
    files,
    otherFiles: others,
    problems,
    totals: {
      filesToRewrap: rewrap.length,
      filesDone: files.filter((f) => f.status === 'done').length,
      filesSkipped: files.filter((f) => f.status === 'skip').length,
      wrappedKeysChanging: rewrap.reduce((a, f) => a + f.wrappedKeysChange.length, 0),
      signaturesChanging: rewrap.length,
      dataBytesUntouched: files.reduce((a, f) => a + f.dataBytesUntouched, 0),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// journal

export async function readJournal(path: string): Promise<RotationJournal | undefined> {
  const text = await readTextIfExists(path);
  if (text === undefined) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new AppError('VALIDATION', `The rotation journal ${path} is not valid JSON. It is written atomically, so it was edited: restore it, or remove it and plan the rotation again.`);
  }
  const j = doc as Partial<RotationJournal> | null;
  if (j === null || typeof j !== 'object' || j.format !== ROTATION_JOURNAL_FORMAT || j.version !== 1 || typeof j.rotationId !== 'string' || !Array.isArray(j.files) || !Array.isArray(j.models)) {
    throw new AppError('VALIDATION', `${path} is not a version 1 Model Vault rotation journal.`);
  }
  return j as RotationJournal;
}

async function saveJournal(path: string, j: RotationJournal): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(j, null, 2) + '\n', { mode: 0o600 });
}

function sameTarget(j: RotationJournal, plan: Pick<RotationPlan, 'enc' | 'sign'>): boolean {
  return (j.enc?.newFingerprint ?? null) === (plan.enc?.newFingerprint ?? null) && (j.sign?.newFingerprint ?? null) === (plan.sign?.newFingerprint ?? null);
}

/**
 * A lock file left by a killed process would block the audit log or the keysets for good: remove it when its pid is
 * gone. A live process writes its pid right after creating the lock, so a lock still empty after a second is dead too.
 */
export async function clearDeadLock(path: string): Promise<void> {
  const lock = `${path}.lock`;
  for (;;) {
    const text = await readTextIfExists(lock).catch(() => undefined);
    if (text === undefined) return;
    const pid = Number(text.trim());
    if (text.trim() === '' || !Number.isSafeInteger(pid) || pid <= 0) {
      const st = await fs.stat(lock).catch(() => undefined);
      if (st === undefined) return;
      if (Date.now() - st.mtimeMs > 1000) {
        await fs.rm(lock, { force: true });
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    if (pid === process.pid) return;
    try {
      process.kill(pid, 0);
      return; // alive: wait for it through the normal lock
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') await fs.rm(lock, { force: true });
      return;
    }
  }
}

/** Removes temp files a killed run left: rewrap temps next to the planned files, journal temps next to the journal. */
async function removeStaleTemps(root: string, files: readonly JournalFile[], journal: string): Promise<void> {
  const jdir = dirname(journal);
  const jtemp = `.${basename(journal)}${TEMP_MARK}`;
  for (const n of await fs.readdir(jdir).catch(() => [] as string[])) if (n.startsWith(jtemp)) await fs.rm(join(jdir, n), { force: true });
  const dirs = new Set(files.map((f) => dirname(join(root, f.path))));
  for (const d of dirs) {
    const names = await fs.readdir(d).catch(() => [] as string[]);
    for (const n of names) if (n.includes(TEMP_MARK) && files.some((f) => n.startsWith(`.${basename(f.path)}${TEMP_MARK}`))) await fs.rm(join(d, n), { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// rotate

function cancelled(): AppError {
  return new AppError('CANCELLED', 'The rotation was cancelled. Files already rewrapped are valid under the new keys, the others under the old ones; run it again to resume.');
}

/**
 * Rotates every model in `folder`. Reruns resume from the journal (same new keys required). Throws on the first
 * failure; the journal keeps what is done. Returns the report with the signed bundle.
 */
export async function rotateFolder(folder: string, options: RotateOptions): Promise<RotationReport> {
  const now = options.now ?? (() => new Date());
  const audit = async (action: string, object: string, result: AuditResult, details?: Record<string, AuditDetailValue>): Promise<void> => {
    if (options.audit === undefined) return;
    await clearDeadLock(options.audit.log.path);
    await options.audit.log.append({ actor: options.audit.actor, action, object: object.slice(0, 500) || '-', result, ...(details === undefined ? {} : { details }) });
  };
  const root = resolve(folder);
  try {
    return await rotate(root, options, now, audit);
  } catch (e) {
    const code: ErrorCode = isAppError(e) ? e.code : 'INTERNAL';
    await audit('keys.rotate', root, 'failed', { code }).catch(() => undefined);
    throw e;
  }
}

type Audit = (action: string, object: string, result: AuditResult, details?: Record<string, AuditDetailValue>) => Promise<void>;

async function rotate(root: string, options: RotateOptions, now: () => Date, audit: Audit): Promise<RotationReport> {
  const checkAbort = (): void => {
    if (options.signal?.aborted === true) throw cancelled();
  };
  checkAbort();
  const writer = writerOf(options);
  const progress = (p: RotationProgress): void => options.onProgress?.(p);
  progress({ phase: 'plan', filesDone: 0, filesTotal: 0 });

  // 1. plan, or resume from the journal
  const plan = await planRotation(root, options);
  let journal = await readJournal(plan.journal);
  const resumed = journal !== undefined && sameTarget(journal, plan);
  if (journal !== undefined && !resumed && journal.phase !== 'complete') {
    throw new AppError('VALIDATION', `Another rotation (to ${journal.enc?.newKid ?? journal.sign?.newKid ?? 'other keys'}) is unfinished in ${plan.journal}. Finish it with the same new keys, or remove the journal if you are sure it was abandoned.`);
  }
  if (journal === undefined || !resumed) {
    if (plan.problems.length > 0) {
      const p = plan.problems[0] as VerifyProblem;
      throw new AppError(p.code, `${plan.problems.length} file(s) cannot be rotated, e.g. ${p.path}: ${p.message}`);
    }
    const at = now().toISOString();
    journal = {
      format: ROTATION_JOURNAL_FORMAT, version: 1, rotationId: newBundleId(), startedAt: at, updatedAt: at, phase: 'rewrapping',
      enc: plan.enc, sign: plan.sign, models: plan.models,
      files: plan.files.filter((f) => f.status !== 'skip').map((f) => ({ path: f.path, model: f.model, tensors: f.tensors, oldHeaderSha256: f.headerSha256, state: f.status === 'done' ? 'done' : 'pending', ...(f.status === 'done' ? { newHeaderSha256: f.headerSha256 } : {}) })),
    };
    await saveJournal(plan.journal, journal);
  } else {
    await removeStaleTemps(root, journal.files, plan.journal);
  }
  const j0 = journal;
  await audit('keys.rotate.start', root, 'ok', {
    rotationId: j0.rotationId, resumed, files: j0.files.length, pending: j0.files.filter((f) => f.state === 'pending').length,
    ...(j0.enc === null ? {} : { newEncKid: j0.enc.newKid, newEncFingerprint: j0.enc.newFingerprint }),
    ...(j0.sign === null ? {} : { newSignKid: j0.sign.newKid, newSignFingerprint: j0.sign.newFingerprint }),
  });

  // 2. stage the new keys
  if (options.keysets !== undefined) await stageKeys(options, writer, audit);

  // 3. rewrap file by file
  const total = j0.files.length;
  const newMaster = options.newMasterKey;
  const files = [...j0.files];
  const results = new Map<string, 'rewrapped' | 'already-done'>();
  for (const f of files) if (f.state === 'done') results.set(f.path, 'already-done');
  for (let i = 0; i < files.length; i++) {
    const f = files[i] as JournalFile;
    if (f.state === 'done') continue;
    checkAbort();
    progress({ phase: 'rewrap', filesDone: i, filesTotal: total, file: f.path });
    const abs = join(root, f.path);
    const head = await readHeader(abs);
    let result: 'rewrapped' | 'already-done';
    if (head.headerSha256 === f.oldHeaderSha256) {
      const old = masterFor(options.oldMasterKeys, head.parsed.crypto?.keys.enc.kid);
      if (old === undefined) throw new AppError('KEY_NOT_FOUND', `No current master key matches ${f.path}.`);
      await rewrapModel(abs, { old: { masterKeys: [old], trustedSigners: verifyKeys(options.trustedSigners), parallel: false }, signingKey: toCodecSigner(writer), ...(newMaster === undefined ? {} : { masterKey: newMaster }) });
      result = 'rewrapped';
    } else if (await isRotated(abs, head.parsed.crypto?.keys.enc.kid, options, writer)) {
      result = 'already-done'; // committed just before an interruption, before the journal said so
    } else {
      throw new AppError('VALIDATION', `${f.path} changed since the rotation was planned and is not under the new keys. Check who modified it, restore it, then run the rotation again.`);
    }
    // the new file must open under the new keys alone (signature, and every data key unwraps)
    await opensWith(abs, newMaster === undefined ? options.oldMasterKeys : [newMaster], [{ publicKey: writer.publicKey }]).catch((e: unknown) => {
      throw new AppError(isAppError(e) ? e.code : 'INTERNAL', `${f.path} does not open under the new keys after rewrapping. The journal keeps the progress; check the keys and run the rotation again.`, { cause: e });
    });
    const after = await readHeader(abs);
    files[i] = { ...f, state: 'done', newHeaderSha256: after.headerSha256 };
    results.set(f.path, result);
    journal = { ...journal, files: [...files], updatedAt: now().toISOString() };
    await saveJournal(plan.journal, journal);
    await audit('keys.rotate.file', f.path, 'ok', { rotationId: j0.rotationId, model: f.model, tensors: f.tensors, result, newHeaderSha256: after.headerSha256 });
    await options.afterFile?.(f.path);
  }

  // 4. verify every model under the new keys alone
  progress({ phase: 'verify', filesDone: total, filesTotal: total });
  const modelResults: { path: string; ok: boolean }[] = [];
  const verifyOpts = { masterKeys: newMaster === undefined ? options.oldMasterKeys : [newMaster], trustedSigners: [{ publicKey: writer.publicKey }], parallel: false, ...(options.fullVerify === false ? { headerOnly: true } : {}) };
  const rotatedModels = j0.models.filter((m) => m.files.some((p) => files.some((f) => f.path === p)));
  for (const m of rotatedModels) {
    checkAbort();
    const r = await verifyModel(m.path === '.' ? root : join(root, m.path), verifyOpts);
    modelResults.push({ path: m.path, ok: r.ok });
    if (!r.ok) {
      const p = r.problems[0];
      await audit('keys.rotate.verify', m.path, 'failed', { rotationId: j0.rotationId, code: p?.code ?? 'INTERNAL' });
      throw new AppError(p?.code ?? 'INTERNAL', `Model ${m.path} does not verify under the new keys (${p?.path ?? ''}: ${p?.message ?? 'unknown problem'}). The new keys were not promoted; fix the problem and run the rotation again.`);
    }
  }
  journal = { ...journal, phase: 'verified', updatedAt: now().toISOString() };
  await saveJournal(plan.journal, journal);
  await audit('keys.rotate.verify', root, 'ok', { rotationId: j0.rotationId, models: modelResults.length, full: options.fullVerify !== false });

  // 5. promote
  progress({ phase: 'promote', filesDone: total, filesTotal: total });
  const keysets = options.keysets === undefined ? {} : await promoteKeys(options, writer, audit);
  journal = { ...journal, phase: 'promoted', updatedAt: now().toISOString() };
  await saveJournal(plan.journal, journal);

  // 6. the signed bundle
  progress({ phase: 'bundle', filesDone: total, filesTotal: total });
  const bundle = buildBundle(journal, options, writer, now());
  if (options.bundleOut !== undefined) await writeFileAtomic(resolve(options.bundleOut), serializeRotationBundle(bundle), { mode: 0o644 });
  await audit('keys.rotate.bundle', bundle.bundleId, 'ok', { rotationId: j0.rotationId, models: bundle.models.length, signatures: bundle.signatures.length, recipients: bundle.enc?.wrapped.length ?? 0 });

  journal = { ...journal, phase: 'complete', updatedAt: now().toISOString() };
  await saveJournal(plan.journal, journal);
  await audit('keys.rotate.complete', root, 'ok', { rotationId: j0.rotationId, files: files.length, models: modelResults.length });
  progress({ phase: 'done', filesDone: total, filesTotal: total });

  return {
    folder: root,
    rotationId: j0.rotationId,
    journal: plan.journal,
    resumed,
    enc: j0.enc,
    sign: j0.sign,
    files: [
      ...files.map((f) => ({ path: f.path, model: f.model, result: results.get(f.path) ?? 'already-done', oldHeaderSha256: f.oldHeaderSha256, ...(f.newHeaderSha256 === undefined ? {} : { newHeaderSha256: f.newHeaderSha256 }) })),
      ...plan.files.filter((f) => f.status === 'skip').map((f) => ({ path: f.path, model: f.model, result: 'skipped' as const })),
    ],
    models: modelResults,
    keysets,
    bundle,
    ...(options.bundleOut === undefined ? {} : { bundlePath: resolve(options.bundleOut) }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// keysets

function newKeys(options: RotateOptions, writer: SigningKey): { purpose: KeysetPurpose; oldKeys: readonly (MasterKey | SigningKey)[]; key: MasterKey | SigningKey }[] {
  const out: { purpose: KeysetPurpose; oldKeys: readonly (MasterKey | SigningKey)[]; key: MasterKey | SigningKey }[] = [];
  if (options.newMasterKey !== undefined) out.push({ purpose: 'enc', oldKeys: options.oldMasterKeys, key: options.newMasterKey });
  if (options.newSigningKey !== undefined) out.push({ purpose: 'sign', oldKeys: options.oldSigningKey === undefined ? [] : [options.oldSigningKey], key: writer });
  return out;
}

async function stageKeys(options: RotateOptions, writer: SigningKey, audit: Audit): Promise<void> {
  const port = options.keysets as KeysetPort;
  for (const { purpose, oldKeys, key } of newKeys(options, writer)) {
    const info = describeKey(key);
    const did = { staged: false };
    await port.update(purpose, (ks) => {
      let next = ks;
      // A keyset that never saw the current key gets it as the active one first, so it stays readable as `previous`.
      const first = oldKeys[0];
      if (next.entries.length === 0 && first?.kid !== undefined) next = promoteKey(addKey(next, describeKey(first)), first.kid);
      if (!next.entries.some((e) => e.fingerprint === info.fingerprint)) {
        next = addKey(next, info);
        did.staged = true;
      }
      return next;
    });
    if (did.staged) await audit('keys.stage', info.kid ?? '-', 'ok', { purpose, keyFingerprint: info.fingerprint, alg: info.alg });
  }
}

async function promoteKeys(options: RotateOptions, writer: SigningKey, audit: Audit): Promise<{ enc?: string; sign?: string }> {
  const port = options.keysets as KeysetPort;
  const out: { enc?: string; sign?: string } = {};
  for (const { purpose, key } of newKeys(options, writer)) {
    const info = describeKey(key);
    const did = { promoted: false };
    const ks = await port.update(purpose, (cur) => {
      const e = cur.entries.find((x) => x.fingerprint === info.fingerprint);
      if (e === undefined) throw new AppError('KEY_NOT_FOUND', `The new ${purpose} key ${info.kid ?? ''} is not in the keyset; run the rotation again to stage it.`);
      if (e.state !== 'staged') return cur;
      did.promoted = true;
      return promoteKey(cur, e.kid);
    });
    if (did.promoted) await audit('keys.promote', info.kid ?? '-', 'ok', { purpose, keyFingerprint: info.fingerprint });
    out[purpose] = ks.entries.find((x) => x.fingerprint === info.fingerprint)?.state ?? 'unknown';
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// bundle

function buildBundle(j: RotationJournal, options: RotateOptions, writer: SigningKey, at: Date): RotationBundle {
  const models: ModelChange[] = j.files.map((f) => ({ path: f.path, tensors: f.tensors, oldHeaderSha256: f.oldHeaderSha256, newHeaderSha256: f.newHeaderSha256 ?? f.oldHeaderSha256 }));
  let enc: EncChange | undefined;
  if (j.enc !== null && options.newMasterKey !== undefined) {
    const nm = options.newMasterKey;
    enc = {
      oldKid: j.enc.oldKids.join(','), oldFingerprint: j.enc.oldFingerprints.join(','), newKid: j.enc.newKid, newFingerprint: j.enc.newFingerprint, alg: nm.alg,
      wrapped: (options.brokerRecipients ?? []).map((r) => wrapKeyForRecipient(nm, j.rotationId, r)),
    };
  }
  let sign: SignChange | undefined;
  if (j.sign !== null) sign = { oldKid: j.sign.oldKids.join(','), oldFingerprint: j.sign.oldFingerprints.join(','), newKid: j.sign.newKid, newFingerprint: j.sign.newFingerprint, newPublicKey: toB64std(writer.publicKey) };
  const body: RotationBundleBody = {
    format: 'model-vault/rotation-bundle', version: 1, bundleId: j.rotationId, createdAt: at.toISOString(), models,
    ...(options.producer === undefined ? {} : { producer: options.producer }),
    ...(enc === undefined ? {} : { enc }),
    ...(sign === undefined ? {} : { sign }),
    ...(options.approval === undefined ? {} : { approval: options.approval }),
  };
  // The current key signs for continuity (when its private half is here); the new key proves possession.
  const signers: SigningKey[] = [];
  const old = options.oldSigningKey;
  if (old?.seed !== undefined && old.kid !== undefined && fingerprintOf(old) !== fingerprintOf(writer)) signers.push(old);
  signers.push(writer.kid === undefined ? { ...writer, kid: `fp-${fingerprintOf(writer).slice(6, 22)}` } : writer);
  return signRotationBundle(body, signers);
}
