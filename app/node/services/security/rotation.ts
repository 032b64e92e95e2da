/**
 * The offline rotation wizard's service side, on top of app/node/keys/rotate-folder.ts (the same code as
 * `model-vault keys rotate`): scan a folder (models, the keys they are under, an unfinished rotation), the dry run,
 * the rotation itself (resumable from its journal), and the signed bundle, kept in <home>/rotation-bundles/.
 *
 * The current keys are found from the files' headers (enc kid, signer kid) and loaded by kid from the key stores, so
 * the wizard only asks for the new keys. On resume the new keys are the ones the journal names.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { AppError, isAppError } from '../../../errors.ts';
import type { FolderScan, KeyChange, PlanFileRow, RotationJournalSummary, RotationPlanView, RotationResult } from '../../../ipc/ops/security.ts';
import { publicHalf, type MasterKey, type SigningKey } from '../../../keys/key.ts';
import { serializeRotationBundle, type RotationBundle } from '../../../keys/rotation-bundle.ts';
import { openFileSource, readModelHeader } from '../../format/file-source.ts';
import { readTextIfExists, writeFileAtomic } from '../../atomic.ts';
import { defaultJournalPath, discoverModels, planRotation, readJournal, type PlanOptions, type RotationJournal, type RotationPlan, type RotationReport } from '../../keys/rotate-folder.ts';
import type { ListedKey, SecurityStores } from './stores.ts';

export function absoluteFolder(folder: string): string {
  if (!isAbsolute(folder)) throw new AppError('VALIDATION', `Give the full path of the folder (it starts with / or a drive letter), not "${folder.slice(0, 80)}".`);
  return resolve(folder);
}

export function bundleDir(home: string): string {
  return join(home, 'rotation-bundles');
}

interface HeaderKeys {
  readonly path: string;
  readonly encKid: string | null;
  readonly encAlg: string | null;
  readonly signKid: string | null;
}

async function headerKeys(root: string, path: string): Promise<HeaderKeys | undefined> {
  const src = await openFileSource(join(root, path));
  try {
    const { parsed } = await readModelHeader(src);
    const c = parsed.crypto;
    return { path, encKid: c?.keys.enc.kid ?? null, encAlg: c?.keys.enc.alg ?? null, signKid: c?.keys.sign.kid ?? null };
  } catch (e) {
    if (isAppError(e)) return undefined; // reported by the dry run, with its reason
    throw e;
  } finally {
    await src.close?.();
  }
}

async function folderKeys(root: string): Promise<{ models: Awaited<ReturnType<typeof discoverModels>>['models']; rootIsModel: boolean; headers: HeaderKeys[] }> {
  const st = await fs.stat(root).catch(() => null);
  if (st?.isDirectory() !== true) throw new AppError('NOT_FOUND', `${root} is not a folder. Give the folder that holds the models to rotate.`);
  const { models, rootIsModel } = await discoverModels(root);
  if (models.length === 0) throw new AppError('VALIDATION', `No .safetensors models in ${root}. Choose the folder that holds the encrypted models.`);
  const headers: HeaderKeys[] = [];
  for (const m of models) for (const f of m.files) {
    const h = await headerKeys(root, f);
    if (h !== undefined) headers.push(h);
  }
  return { models, rootIsModel, headers };
}

export async function unfinishedRotation(root: string): Promise<{ journal: RotationJournal; path: string } | undefined> {
  for (const path of [defaultJournalPath(root, false), defaultJournalPath(root, true)]) {
    const j = await readJournal(path);
    if (j !== undefined && j.phase !== 'complete') return { journal: j, path };
  }
  return undefined;
}

function journalSummary(j: RotationJournal, path: string): RotationJournalSummary {
  return {
    rotationId: j.rotationId,
    startedAt: j.startedAt,
    updatedAt: j.updatedAt,
    phase: j.phase,
    newMasterKid: j.enc?.newKid ?? null,
    newSigningKid: j.sign?.newKid ?? null,
    filesDone: j.files.filter((f) => f.state === 'done').length,
    filesTotal: j.files.length,
    journal: path,
  };
}

function count<T>(xs: readonly T[], key: (x: T) => string | null): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of xs) {
    const k = key(x);
    if (k !== null) m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

export async function scanFolder(folder: string, stores: SecurityStores): Promise<FolderScan> {
  const root = absoluteFolder(folder);
  const { models, headers } = await folderKeys(root);
  const listed = await stores.list();
  const find = (kid: string, kind: 'master' | 'signing'): ListedKey | undefined => listed.find((k) => k.kid === kid && k.kind === kind);
  const algOf = new Map(headers.filter((h) => h.encKid !== null).map((h) => [h.encKid as string, h.encAlg ?? '']));
  const unfinished = await unfinishedRotation(root);
  return {
    folder: root,
    models: models.map((m) => ({ path: m.path, kind: m.kind, files: m.files.length })),
    masterKeys: [...count(headers, (h) => h.encKid)].map(([kid, files]) => {
      const k = find(kid, 'master');
      return { kid, alg: algOf.get(kid) ?? '', store: k?.store ?? null, fingerprint: k?.fingerprint ?? null, files };
    }),
    signingKeys: [...count(headers, (h) => (h.encKid === null ? null : h.signKid))].map(([kid, files]) => {
      const k = find(kid, 'signing');
      return { kid, store: k?.store ?? null, fingerprint: k?.fingerprint ?? null, canSign: k !== undefined && !k.verifyOnly, files };
    }),
    plainFiles: headers.filter((h) => h.encKid === null).length,
    unfinished: unfinished === undefined ? null : journalSummary(unfinished.journal, unfinished.path),
  };
}

export interface RotationKeyRequest {
  readonly folder: string;
  readonly newMasterKid?: string | undefined;
  readonly newSigningKid?: string | undefined;
}

/** The current keys from the headers (minus the new ones, which a resumed rotation already wrote), loaded from the stores. */
export async function rotationOptions(req: RotationKeyRequest, stores: SecurityStores, journal?: RotationJournal): Promise<{ root: string; options: PlanOptions }> {
  const root = absoluteFolder(req.folder);
  const newMasterKid = req.newMasterKid ?? journal?.enc?.newKid;
  const newSigningKid = req.newSigningKid ?? journal?.sign?.newKid;
  if (newMasterKid === undefined && newSigningKid === undefined) throw new AppError('VALIDATION', 'Choose the new master key (or a new signing key): there is nothing to rotate to.');
  const { headers } = await folderKeys(root);
  // A resumed rotation may have rewrapped every file already: the journal still names the keys it rotates from.
  const real = (k: string | null): k is string => k !== null && k !== '(none)';
  const encKids = [...new Set([...headers.map((h) => h.encKid), ...(journal?.enc?.oldKids ?? [])].filter((k): k is string => real(k) && k !== newMasterKid))];
  const signKids = [...new Set([...headers.filter((h) => h.encKid !== null).map((h) => h.signKid), ...(journal?.sign?.oldKids ?? [])].filter((k): k is string => real(k) && k !== newSigningKid))];
  if (headers.some((h) => h.encKid !== null && h.signKid === null)) throw new AppError('KEY_NOT_FOUND', 'Some files name no signing key (no kid in their header), so their signer cannot be looked up. Rotate them with "model-vault keys rotate --trust <key file>".');
  const oldMasterKeys: MasterKey[] = [];
  for (const kid of encKids) oldMasterKeys.push(await stores.load(kid, 'master').catch(notStored(kid, 'master key the models are encrypted under')));
  const trusted: SigningKey[] = [];
  let oldSigningKey: SigningKey | undefined;
  for (const kid of signKids) {
    const k = await stores.load(kid, 'verify').catch(notStored(kid, 'signing key the models are signed with'));
    trusted.push(publicHalf(k));
    if (oldSigningKey === undefined) oldSigningKey = await stores.load(kid, 'signing').catch(() => undefined);
  }
  // After a partial rotation every file may already be under the new keys: trust the new signer too.
  if (newSigningKid !== undefined && headers.some((h) => h.signKid === newSigningKid)) trusted.push(publicHalf(await stores.load(newSigningKid, 'verify')));
  const newMasterKey = newMasterKid === undefined ? undefined : await stores.load(newMasterKid, 'master').catch(notStored(newMasterKid, 'new master key'));
  const newSigningKey = newSigningKid === undefined ? undefined : await stores.load(newSigningKid, 'signing').catch(notStored(newSigningKid, 'new signing key (with its private half)'));
  if (newMasterKey !== undefined && oldMasterKeys.some((k) => k.alg !== newMasterKey.alg)) {
    throw new AppError('KEY_ALG_MISMATCH', `The new master key ${newMasterKid ?? ''} uses ${newMasterKey.alg}, but the models use ${oldMasterKeys[0]?.alg ?? '?'}: rewrapping cannot change the algorithm. Create a ${oldMasterKeys[0]?.alg ?? ''} key.`);
  }
  return {
    root,
    options: {
      oldMasterKeys,
      trustedSigners: trusted,
      ...(newMasterKey === undefined ? {} : { newMasterKey }),
      ...(newSigningKey === undefined ? {} : { newSigningKey }),
      ...(oldSigningKey === undefined ? {} : { oldSigningKey }),
    },
  };
}

function notStored(kid: string, what: string): (e: unknown) => never {
  return (e: unknown) => {
    if (isAppError(e) && e.code === 'KEY_NOT_FOUND') throw new AppError('KEY_NOT_FOUND', `The ${what} (${kid}) is in neither the keychain nor the file keystore (or the file keystore is locked). Unlock the keystore or import the key ("model-vault keys import"), then try again.`);
    throw e;
  };
}

function change(c: { oldKids: readonly string[]; newKid: string; newFingerprint: string; alg?: string } | null): KeyChange | null {
  return c === null ? null : { oldKids: c.oldKids, newKid: c.newKid, newFingerprint: c.newFingerprint, ...(c.alg === undefined ? {} : { alg: c.alg }) };
}

export function planView(plan: RotationPlan): RotationPlanView {
  const files: PlanFileRow[] = plan.files.map((f) => ({
    path: f.path,
    model: f.model,
    status: f.status,
    encKid: f.encKid,
    signerKid: f.signer?.kid ?? null,
    tensors: f.tensors,
    wrappedKeysChange: f.wrappedKeysChange,
    plainTensors: f.plainTensors.length,
    signatureChanges: f.signatureChanges,
    dataBytesUntouched: f.dataBytesUntouched,
  }));
  return {
    folder: plan.folder,
    journal: plan.journal,
    enc: change(plan.enc),
    sign: change(plan.sign),
    files,
    untouched: [...plan.models.flatMap((m) => m.untouchedFiles), ...plan.otherFiles],
    problems: plan.problems.map((p) => ({ path: p.path, code: p.code, message: p.message })),
    totals: plan.totals,
  };
}

export async function dryRun(req: RotationKeyRequest, stores: SecurityStores): Promise<RotationPlanView> {
  const root = absoluteFolder(req.folder);
  const unfinished = await unfinishedRotation(root);
  const { options } = await rotationOptions(req, stores, unfinished?.journal);
  return planView(await planRotation(root, options));
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Keeps the signed bundle in the data directory (the wizard then exports a copy wherever the user wants). */
export async function keepBundle(home: string, bundle: RotationBundle): Promise<RotationResult['bundle']> {
  const path = join(bundleDir(home), `${bundle.bundleId}.json`);
  const text = serializeRotationBundle(bundle);
  await fs.mkdir(bundleDir(home), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, text, { mode: 0o644 });
  return {
    bundleId: bundle.bundleId,
    path,
    models: bundle.models.length,
    signatures: bundle.signatures.map((s) => ({ kid: s.kid, fingerprint: s.fingerprint })),
    recipients: bundle.enc?.wrapped.map((w) => w.recipient) ?? [],
    sha256: sha256Hex(text),
  };
}

export function resultOf(r: RotationReport, bundle: RotationResult['bundle'], steps: RotationResult['steps']): RotationResult {
  return {
    rotationId: r.rotationId,
    folder: r.folder,
    resumed: r.resumed,
    enc: change(r.enc),
    sign: change(r.sign),
    files: r.files.map((f) => ({ path: f.path, result: f.result })),
    models: r.models,
    keysets: r.keysets,
    bundle,
    steps,
  };
}

export async function readBundle(home: string, bundleId: string): Promise<{ fileName: string; text: string }> {
  const text = await readTextIfExists(join(bundleDir(home), `${bundleId}.json`));
  if (text === undefined) throw new AppError('NOT_FOUND', `No rotation bundle ${bundleId} in ${bundleDir(home)}. Run the rotation (or resume it) to make one.`);
  return { fileName: `rotation-${bundleId}.json`, text };
}

/** Writes a copy of a kept bundle to `target` (a file, or a folder to put rotation-<id>.json in), atomically. */
export async function exportBundle(home: string, bundleId: string, target: string, overwrite: boolean): Promise<{ path: string; bytes: number; sha256: string }> {
  if (!isAbsolute(target)) throw new AppError('VALIDATION', `Give the full path to save the bundle to (it starts with / or a drive letter), not "${target.slice(0, 80)}".`);
  const { fileName, text } = await readBundle(home, bundleId);
  const st = await fs.stat(target).catch(() => null);
  const path = st?.isDirectory() === true ? join(target, fileName) : resolve(target);
  if (st?.isDirectory() !== true && !(await fs.stat(resolve(path, '..')).then((s) => s.isDirectory(), () => false))) {
    throw new AppError('NOT_FOUND', `The folder of ${path} does not exist. Choose an existing folder.`);
  }
  if (!overwrite && (await fs.stat(path).then(() => true, () => false))) throw new AppError('ALREADY_EXISTS', `${basename(path)} already exists there. Choose another name, or confirm replacing it.`);
  await writeFileAtomic(path, text, { mode: 0o644 });
  return { path, bytes: Buffer.byteLength(text, 'utf8'), sha256: sha256Hex(text) };
}
