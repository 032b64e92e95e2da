/**
 * `model-vault keys rotate <folder>`: offline rotation of every model in a folder (issue 5 item 4), built on
 * `app/node/keys/rotate-folder.ts`.
 *
 * Without --yes (or with --dry-run) it only shows the plan: which files change, which tensors' wrapped keys change,
 * which signatures change and what stays untouched. With --yes it applies: rewrap file by file (atomic per file),
 * journal in the folder, verify, promote the new keys in their keysets (MODEL_VAULT_KEYSETS), write the signed
 * rotation bundle (--bundle-out). An interrupted rotation is finished with --resume (the journal names the new keys
 * by kid; they are loaded from the store).
 *
 * Keys are JWK files (reference dialect or RFC 8037) or kids, looked up in the documented source order (keychain,
 * keystore file, environment). `--generate` makes the new master key (the current key's algorithm) and stores it
 * (--store keychain|file) before any file is touched. Nothing secret is ever printed or logged.
 */
import { promises as fs } from 'node:fs';
import { actorOf } from './actor.ts';
import { join, resolve } from 'node:path';
import { AppError } from '../../errors.ts';
import { parseJwkOrSet } from '../../keys/jwk.ts';
import { describeKey, formatFingerprint, generateMasterKey, publicHalf, type KeyMaterial, type MasterKey, type SigningKey } from '../../keys/key.ts';
import type { KeyStore } from '../../keys/keystore.ts';
import { fromB64std } from '../../crypto/encoding.ts';
import { encodeShare, splitSecret } from '../../keys/shamir.ts';
import { writeFileAtomic } from '../atomic.ts';
import { keysetFilePort, keysetsPath } from '../keys/keyset-file.ts';
import { FileKeyStore } from '../keys/file-keystore.ts';
import { KeychainKeyStore } from '../keys/keychain-keystore.ts';
import { keystorePath, scryptParams } from '../keys/paths.ts';
import { resolveKey, type KeyUse } from '../keys/sources.ts';
import { defaultAuditLog } from '../audit/log.ts';
import { defaultJournalPath, planRotation, readJournal, rotateFolder, JOURNAL_NAME, type BrokerRecipient, type KeysetPort, type RotationPlan, type RotationReport, type TrustedSigner } from '../keys/rotate-folder.ts';
import { usageError } from './usage.ts';
import { type CliCommand, type CliIo, EXIT, type ParsedArgs } from './types.ts';

const USAGE = 'keys rotate <folder> --old-key <kid|jwk>... [--new-key <kid|jwk> | --generate] [--sign-key <kid|jwk>] [--old-sign-key <kid|jwk>] [--trust <kid|jwk>]... [--dry-run | --yes] [--resume] [--bundle-out FILE] [--broker-key <id>:<x25519-b64>]... [--approval <M>/<N> --shares-dir DIR] [--owner <producer>] [--store keychain|file] [--json]';

const HELP = [
  '  --old-key        the current master key(s) (repeatable): JWK file or kid',
  '  --new-key        the new master key (same algorithm); or --generate to make and store one',
  '  --sign-key       the new signing key; without it files are re-signed with --old-sign-key',
  '  --old-sign-key   the current signing key: trusted for the current files, co-signs the bundle',
  '  --trust          more trusted signers of the current files (public JWK files or kids)',
  '  --dry-run        show the plan only (the default without --yes)',
  '  --yes            apply: rewrap every model, verify, promote the new keys, write the bundle',
  '  --resume         finish an interrupted rotation (new keys are read from the journal by kid)',
  '  --bundle-out     where to write the signed rotation bundle for the broker',
  '  --broker-key     broker recipient <id>:<base64 X25519 public key>; the new master key is wrapped for it',
  '  --approval M/N   M-of-N approval: split the new master key into N share files (--shares-dir) of which any M',
  '                   rebuild it ("model-vault keys combine"); the bundle records M and N, never the shares',
  '  --owner          the keyset owner (producer id), default "default"',
  'Examples:',
  '  model-vault keys rotate ./models --old-key enc-2025 --old-sign-key sign-2025 --generate --sign-key sign-2026',
  '  model-vault keys rotate ./models --old-key old.jwk --old-sign-key sign.jwk --new-key new.jwk --yes --bundle-out rotation.json',
].join('\n');

function strings(args: ParsedArgs, name: string): string[] {
  return (args.all[name] ?? []).map((v) => {
    if (typeof v !== 'string') throw usageError(USAGE, `--${name} needs a value`);
    return v;
  });
}

function one(args: ParsedArgs, name: string): string | undefined {
  const all = strings(args, name);
  if (all.length > 1) throw usageError(USAGE, `give --${name} once`);
  return all[0];
}


async function passphraseOf(args: ParsedArgs, io: CliIo): Promise<string | undefined> {
  const file = one(args, 'passphrase-file');
  if (file !== undefined) {
    try {
      return (await fs.readFile(resolve(io.cwd, file), 'utf8')).replace(/\r?\n$/, '');
    } catch (e) {
      throw new AppError('IO_ERROR', `Could not read the passphrase file ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: e });
    }
  }
  const env = io.env.MODEL_VAULT_PASSPHRASE;
  return env === undefined || env === '' ? undefined : env;
}

/** The key stores to look kids up in (and to store a generated key in). */
class Stores {
  #file: Promise<FileKeyStore | undefined> | undefined;
  constructor(private readonly args: ParsedArgs, private readonly io: CliIo) {}

  fileStore(): Promise<FileKeyStore | undefined> {
    this.#file ??= (async () => {
      const path = one(this.args, 'keystore') ?? keystorePath(this.io.env);
      const exists = await fs.stat(path).then(() => true, () => false);
      const pw = await passphraseOf(this.args, this.io);
      if (!exists) return undefined;
      return FileKeyStore.open(path, pw === undefined ? {} : { passphrase: pw });
    })();
    return this.#file;
  }

  async writable(): Promise<KeyStore> {
    const kind = one(this.args, 'store') ?? this.io.env.MODEL_VAULT_STORE ?? 'keychain';
    if (kind === 'keychain') return KeychainKeyStore.open();
    if (kind !== 'file') throw usageError(USAGE, '--store must be "keychain" or "file"');
    const pw = await passphraseOf(this.args, this.io);
    if (pw === undefined) throw new AppError('KEYSTORE_LOCKED', 'The keystore file needs its passphrase: pass --passphrase-file <file> or set MODEL_VAULT_PASSPHRASE.');
    return FileKeyStore.openOrCreate(one(this.args, 'keystore') ?? keystorePath(this.io.env), pw, { params: scryptParams(this.io.env) });
  }

  /** A JWK file (when the path exists) or a kid from the key sources. */
  async load(ref: string, use: KeyUse): Promise<KeyMaterial[]> {
    const path = resolve(this.io.cwd, ref);
    const st = await fs.stat(path).catch(() => null);
    if (st?.isFile() === true) {
      if (st.size > 1 << 20) throw new AppError('KEY_INVALID', `${ref} is larger than 1 MiB; it is not a key file.`);
      const keys = parseJwkOrSet(await fs.readFile(path, 'utf8'), { where: ref }).filter((k) => (use === 'master' ? k.kind === 'master' : use === 'signing' ? k.kind === 'signing' && k.seed !== undefined : k.kind === 'signing'));
      if (keys.length === 0) throw new AppError('KEY_NOT_FOUND', `${ref} holds no ${use === 'master' ? 'master key' : use === 'signing' ? 'private signing key' : 'signing key'}.`);
      return keys;
    }
    const file = await this.fileStore().catch(() => undefined);
    const r = await resolveKey({ use, kid: ref }, { keychain: () => KeychainKeyStore.open(), ...(file === undefined ? {} : { keystoreFile: file }), env: this.io.env });
    return [r.key];
  }

  async loadOne(ref: string, use: KeyUse, what: string): Promise<KeyMaterial> {
    const keys = await this.load(ref, use);
    if (keys.length !== 1) throw new AppError('VALIDATION', `${what}: ${ref} holds ${keys.length} keys; name one key (a file with one key, or a kid).`);
    return keys[0] as KeyMaterial;
  }
}

function brokerRecipients(args: ParsedArgs): BrokerRecipient[] {
  return strings(args, 'broker-key').map((v) => {
    const i = v.lastIndexOf(':');
    const publicKey = i > 0 ? fromB64std(v.slice(i + 1)) : undefined;
    if (i <= 0 || publicKey?.length !== 32) throw usageError(USAGE, '--broker-key is <id>:<base64 of a 32-byte X25519 public key>');
    return { id: v.slice(0, i), publicKey };
  });
}

function keysetPort(io: CliIo, owner: string): KeysetPort {
  return keysetFilePort(keysetsPath(io.env), owner);
}

function planText(plan: RotationPlan, apply: boolean): string {
  const lines: string[] = [`Rotation plan for ${plan.folder}`];
  if (plan.enc !== null) lines.push(`  master key: ${plan.enc.oldKids.join(', ') || '(none)'} -> ${plan.enc.newKid} ${formatFingerprint(plan.enc.newFingerprint)} (${plan.enc.alg})`);
  if (plan.sign !== null) lines.push(`  signing key: ${plan.sign.oldKids.join(', ') || '(none)'} -> ${plan.sign.newKid} ${formatFingerprint(plan.sign.newFingerprint)}`);
  for (const m of plan.models) {
    lines.push(`  model ${m.path} (${m.kind})`);
    for (const p of m.files) {
      const f = plan.files.find((x) => x.path === p);
      if (f === undefined) {
        lines.push(`    ${p}: cannot be rotated (see problems)`);
        continue;
      }
      if (f.status === 'rewrap') lines.push(`    ${p}: rewrap ${f.wrappedKeysChange.length} wrapped key(s) [${f.wrappedKeysChange.join(', ')}], new signature; ${f.plainTensors.length} plaintext tensor(s) and ${f.dataBytesUntouched} data bytes untouched`);
      else if (f.status === 'done') lines.push(`    ${p}: already under the new keys`);
      else lines.push(`    ${p}: not encrypted, left untouched`);
    }
    if (m.untouchedFiles.length > 0) lines.push(`    untouched: ${m.untouchedFiles.join(', ')} (the signed manifest is kept)`);
  }
  if (plan.otherFiles.length > 0) lines.push(`  other files, untouched: ${plan.otherFiles.join(', ')}`);
  for (const p of plan.problems) lines.push(`  PROBLEM ${p.path}: [${p.code}] ${p.message}`);
  const t = plan.totals;
  lines.push(`  ${t.filesToRewrap} file(s) to rewrap, ${t.wrappedKeysChanging} wrapped key(s) and ${t.signaturesChanging} signature(s) change; ${t.filesDone} already done, ${t.filesSkipped} skipped; data sections are not rewritten`);
  lines.push(apply ? '' : 'Dry run: nothing was changed. Run again with --yes to apply.');
  return lines.filter((l) => l !== '').join('\n');
}

function reportText(r: RotationReport): string {
  const rewrapped = r.files.filter((f) => f.result === 'rewrapped').length;
  const done = r.files.filter((f) => f.result === 'already-done').length;
  return [
    `${r.resumed ? 'Resumed and completed' : 'Completed'} rotation ${r.rotationId} of ${r.folder}`,
    `  ${rewrapped} file(s) rewrapped, ${done} already done, ${r.files.length - rewrapped - done} skipped; ${r.models.filter((m) => m.ok).length}/${r.models.length} model(s) verified under the new keys`,
    ...(r.enc === null ? [] : [`  master key ${r.enc.newKid}: ${r.keysets.enc ?? 'not in a keyset'}; the old key is kept until you retire it ("model-vault keys retire")`]),
    ...(r.sign === null ? [] : [`  signing key ${r.sign.newKid}: ${r.keysets.sign ?? 'not in a keyset'}`]),
    `  bundle ${r.bundle.bundleId}: ${r.bundle.models.length} file(s), ${r.bundle.signatures.length} signature(s), ${r.bundle.enc?.wrapped.length ?? 0} broker recipient(s)${r.bundlePath === undefined ? ' (not written: add --bundle-out FILE)' : ` -> ${r.bundlePath}`}`,
    `  journal ${r.journal}`,
  ].join('\n');
}

/** --approval M/N --shares-dir DIR: split the new master key into share files (one per approver, mode 0600). */
async function splitForApproval(args: ParsedArgs, io: CliIo, key: MasterKey | undefined, actor: string, log: ReturnType<typeof defaultAuditLog>): Promise<{ threshold: number; total: number } | undefined> {
  const text = one(args, 'approval');
  if (text === undefined) return undefined;
  const m = /^([1-9][0-9]?)\/([1-9][0-9]{0,2})$/.exec(text);
  if (m === null) throw usageError(USAGE, '--approval is M/N, e.g. 2/3');
  const dirFlag = one(args, 'shares-dir');
  if (dirFlag === undefined) throw usageError(USAGE, 'shares are written only to files: add --shares-dir DIR');
  if (key === undefined || key.kid === undefined) throw usageError(USAGE, '--approval splits the new master key: give --new-key or --generate');
  const threshold = Number(m[1]);
  const total = Number(m[2]);
  const fingerprint = describeKey(key).fingerprint;
  const shares = splitSecret(key.key, threshold, total, JSON.stringify({ kid: key.kid, alg: key.alg, fingerprint }));
  const dir = resolve(io.cwd, dirFlag);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  for (const share of shares) await writeFileAtomic(join(dir, `${key.kid}.share-${share.index}-of-${total}.txt`), `${encodeShare(share)}\n`, { mode: 0o600 });
  await log.append({ actor, action: 'keys.split', object: key.kid, result: 'ok', details: { keyFingerprint: fingerprint, threshold, total } });
  io.err(`split ${key.kid} into ${total} share file(s) in ${dir}; any ${threshold} rebuild it`);
  return { threshold, total };
}

async function journalFor(folder: string, explicit: string | undefined): Promise<ReturnType<typeof readJournal>> {
  if (explicit !== undefined) return readJournal(explicit);
  return (await readJournal(defaultJournalPath(folder, false))) ?? readJournal(defaultJournalPath(folder, true));
}

const keysRotate: CliCommand = {
  words: ['keys', 'rotate'],
  summary: 'rotate the master and/or signing key of every model in a folder, offline (dry run first; resumable; signed bundle)',
  usage: USAGE,
  help: HELP,
  async run(args, io) {
    const positionals = [...args.positionals];
    // --generate is a boolean flag the shared parser does not know: give back a word it swallowed
    const gen = args.flags.generate;
    if (typeof gen === 'string') positionals.push(gen);
    const target = positionals[0];
    if (target === undefined || positionals.length > 1) throw usageError(USAGE, 'give one folder');
    const folder = resolve(io.cwd, target);
    const stores = new Stores(args, io);
    const dryRun = args.flags['dry-run'] !== undefined;
    const resume = args.flags.resume !== undefined;
    const apply = !dryRun && (args.flags.yes !== undefined || resume);
    const journalFlag = one(args, 'journal');
    const journalPath = journalFlag === undefined ? undefined : resolve(io.cwd, journalFlag);
    const log = defaultAuditLog(io.env);
    const actor = actorOf(io);

    const oldRefs = strings(args, 'old-key');
    if (oldRefs.length === 0) throw usageError(USAGE, '--old-key is required (the current master key)');
    const oldMasterKeys: MasterKey[] = [];
    for (const r of oldRefs) for (const k of await stores.load(r, 'master')) if (k.kind === 'master') oldMasterKeys.push(k);
    const oldSignRef = one(args, 'old-sign-key');
    const oldSigningKey = oldSignRef === undefined ? undefined : ((await stores.loadOne(oldSignRef, 'signing', '--old-sign-key')) as SigningKey);
    const trustedSigners: TrustedSigner[] = oldSigningKey === undefined ? [] : [publicHalf(oldSigningKey)];
    for (const r of strings(args, 'trust')) for (const k of await stores.load(r, 'verify')) if (k.kind === 'signing') trustedSigners.push(publicHalf(k));
    if (trustedSigners.length === 0) throw usageError(USAGE, 'give --old-sign-key or --trust so the current signatures can be checked');

    // new keys: given, generated, or (on --resume) named by the journal
    const journal = resume ? await journalFor(folder, journalPath) : undefined;
    if (resume && journal === undefined) throw new AppError('NOT_FOUND', `No rotation journal for ${target} (${JOURNAL_NAME}). Start the rotation without --resume.`);
    const newRef = one(args, 'new-key') ?? (gen === undefined ? journal?.enc?.newKid : undefined);
    let newMasterKey: MasterKey | undefined;
    let generated = false;
    if (newRef !== undefined && gen !== undefined) throw usageError(USAGE, 'give --new-key or --generate, not both');
    if (newRef !== undefined) newMasterKey = (await stores.loadOne(newRef, 'master', '--new-key')) as MasterKey;
    else if (gen !== undefined) {
      const alg = oldMasterKeys[0]?.alg ?? 'aes256gcm';
      const kid = one(args, 'kid');
      newMasterKey = generateMasterKey(alg, kid === undefined ? {} : { kid });
      generated = true;
    }
    const signRef = one(args, 'sign-key') ?? journal?.sign?.newKid;
    const newSigningKey = signRef === undefined ? undefined : ((await stores.loadOne(signRef, 'signing', '--sign-key')) as SigningKey);
    if (newMasterKey === undefined && newSigningKey === undefined) throw usageError(USAGE, 'give --new-key, --generate or --sign-key');

    const base = { oldMasterKeys, trustedSigners, ...(newMasterKey === undefined ? {} : { newMasterKey }), ...(newSigningKey === undefined ? {} : { newSigningKey }), ...(oldSigningKey === undefined ? {} : { oldSigningKey }), ...(journalPath === undefined ? {} : { journal: journalPath }) };

    if (!apply) {
      const plan = await planRotation(folder, base);
      await log.append({ actor, action: 'keys.rotate.plan', object: folder.slice(0, 500), result: 'ok', details: { files: plan.files.length, toRewrap: plan.totals.filesToRewrap, problems: plan.problems.length, ...(plan.enc === null ? {} : { newEncKid: plan.enc.newKid }), ...(plan.sign === null ? {} : { newSignKid: plan.sign.newKid }) } });
      if (io.json) io.out(JSON.stringify({ ok: plan.problems.length === 0, dryRun: true, generated, plan }));
      else io.out(planText(plan, false) + (generated ? '\n(--generate: the new key is made and stored only when you apply with --yes)' : ''));
      return plan.problems.length === 0 ? EXIT.OK : EXIT.VERIFY_FAILED;
    }
    if (!resume) {
      const existing = await journalFor(folder, journalPath);
      if (existing !== undefined && existing.phase !== 'complete') throw new AppError('ALREADY_EXISTS', `A rotation of ${target} is unfinished (rotation ${existing.rotationId}). Finish it with --resume, giving the same keys.`);
    }
    if (generated && newMasterKey !== undefined) {
      // stored before any file is touched: the rotated models must never depend on a key that exists nowhere
      const store = await stores.writable();
      await store.put({ key: newMasterKey, meta: { createdAt: new Date().toISOString(), origin: 'generated', label: `rotation of ${target}`.slice(0, 200) } });
      const info = describeKey(newMasterKey);
      await log.append({ actor, action: 'keys.new', object: info.kid ?? '-', result: 'ok', details: { keyFingerprint: info.fingerprint, alg: info.alg, keyKind: info.kind, keyStore: store.info.kind } });
      io.err(`generated master key ${info.kid ?? ''} ${formatFingerprint(info.fingerprint)} in ${store.info.location}`);
    }
    const approval = await splitForApproval(args, io, newMasterKey, actor, log);
    const bundleOut = one(args, 'bundle-out');
    const report = await rotateFolder(folder, {
      ...(approval === undefined ? {} : { approval }),
      ...base,
      audit: { log, actor },
      keysets: keysetPort(io, one(args, 'owner') ?? 'default'),
      brokerRecipients: brokerRecipients(args),
      producer: one(args, 'owner') ?? 'default',
      ...(bundleOut === undefined ? {} : { bundleOut: resolve(io.cwd, bundleOut) }),
      onProgress: (p) => {
        if (p.phase === 'rewrap' && p.file !== undefined) io.err(`rewrapping ${p.filesDone + 1}/${p.filesTotal} ${p.file}`);
        else if (p.phase !== 'rewrap') io.err(`${p.phase}…`);
      },
    });
    if (io.json) io.out(JSON.stringify({ ok: true, generated, report: { ...report, bundle: { bundleId: report.bundle.bundleId, models: report.bundle.models.length, signatures: report.bundle.signatures.map((s) => ({ kid: s.kid, fingerprint: s.fingerprint })), recipients: report.bundle.enc?.wrapped.map((w) => w.recipient) ?? [] } } }));
    else io.out(reportText(report));
    return EXIT.OK;
  },
};

export const commands: CliCommand[] = [keysRotate];
