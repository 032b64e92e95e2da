/**
 * `model-vault keys …` and `model-vault audit …` (issue 5). Every key command is written to the audit log
 * (MODEL_VAULT_AUDIT_LOG), including failures; nothing secret is ever printed or logged: keys are shown by kid and
 * fingerprint, plaintext export goes only to a 0600 file named with --out, after a warning.
 *
 * Stores: `--store keychain` (default, or MODEL_VAULT_STORE) or `--store file` (the encrypted file keystore at
 * --keystore or MODEL_VAULT_KEYSTORE). Passphrases: --passphrase-file <file> or MODEL_VAULT_PASSPHRASE, else a
 * prompt on a terminal; backups use --backup-passphrase-file or MODEL_VAULT_BACKUP_PASSPHRASE.
 */
import { promises as fs } from 'node:fs';
import { PROGRAM, usageError } from './usage.ts';
import { stringFlag } from './args.ts';
import { actorOf } from './actor.ts';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { AppError, isAppError, toErrorInfo } from '../../errors.ts';
import { exportBackup, exportPlaintext, importBackup, isBackupText, PLAINTEXT_EXPORT_WARNING } from '../../keys/backup.ts';
import { parseJwkOrSet, serializeJwk, serializeJwkSet } from '../../keys/jwk.ts';
import {
  assertValidKid,
  describeKey,
  fingerprintOf,
  formatFingerprint,
  generateKid,
  generateMasterKey,
  generateSigningKey,
  type KeyMaterial,
  makeMasterKey,
  MASTER_ALGS,
  type MasterAlg,
  normalizeMasterAlg,
  publicHalf,
  type SigningKey,
  withKid,
} from '../../keys/key.ts';
import type { KeyStore, StoredKeyInfo } from '../../keys/keystore.ts';
import { combineShares, decodeShare, encodeShare, splitSecret } from '../../keys/shamir.ts';
import { evaluateSigner, findByFingerprintOrKid, parseScope, publicKeyOf, scopeToString, trustSigner, untrustSigner } from '../../keys/trust.ts';
import { AuditLog, readAuditLogText } from '../audit/log.ts';
import type { AuditDetailValue, AuditResult } from '../audit/entry.ts';
import { parseEntry } from '../audit/entry.ts';
import { splitLines, verifyAuditLog } from '../audit/verify.ts';
import { writeFileAtomic } from '../atomic.ts';
import { FileKeyStore } from '../keys/file-keystore.ts';
import { changeKeysetState, type KeysetVerb, keysetsPath, loadKeysets } from '../keys/keyset-file.ts';
import { KeychainKeyStore } from '../keys/keychain-keystore.ts';
import { auditLogPath, keystorePath, scryptParams, trustStorePath } from '../keys/paths.ts';
import { loadTrustStore, updateTrustStore } from '../keys/trust-file.ts';
import { type CliCommand, type CliIo, EXIT, type ParsedArgs } from './types.ts';


// ---------------------------------------------------------------------------------------------------------------
// helpers


function bool(args: ParsedArgs, name: string): boolean {
  return args.flags[name] !== undefined;
}

/** Boolean flags the shared parser does not know consume the next word: give that word back as a positional. */
function positionalsWith(args: ParsedArgs, ...boolFlags: string[]): string[] {
  const extra = boolFlags.map((f) => stringFlag(args, f)).filter((v): v is string => v !== undefined);
  return [...args.positionals, ...extra];
}


async function promptHidden(io: CliIo, prompt: string): Promise<string> {
  const muted = new Writable({ write: (_c: unknown, _e: unknown, cb: () => void) => cb() });
  process.stderr.write(prompt);
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve));
  } finally {
    rl.close();
    io.err('');
  }
}

async function readSecretFile(path: string, what: string): Promise<string> {
  try {
    return (await fs.readFile(path, 'utf8')).replace(/\r?\n$/, '');
  } catch (e) {
    throw new AppError('IO_ERROR', `Could not read the ${what} file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: e });
  }
}

async function passphrase(args: ParsedArgs, io: CliIo, kind: 'keystore' | 'backup', confirm: boolean): Promise<string | undefined> {
  const fileFlag = kind === 'keystore' ? 'passphrase-file' : 'backup-passphrase-file';
  const envName = kind === 'keystore' ? 'MODEL_VAULT_PASSPHRASE' : 'MODEL_VAULT_BACKUP_PASSPHRASE';
  const file = stringFlag(args, fileFlag);
  if (file !== undefined) return readSecretFile(file, `${kind} passphrase`);
  const env = io.env[envName];
  if (env !== undefined && env !== '') return env;
  if (!io.isTty || !process.stdin.isTTY) return undefined;
  const first = await promptHidden(io, `${kind === 'keystore' ? 'Keystore' : 'Backup'} passphrase: `);
  if (confirm && (await promptHidden(io, 'Repeat the passphrase: ')) !== first) throw new AppError('VALIDATION', 'The passphrases do not match. Try again.');
  return first;
}

async function requirePassphrase(args: ParsedArgs, io: CliIo, kind: 'keystore' | 'backup', confirm: boolean): Promise<string> {
  const p = await passphrase(args, io, kind, confirm);
  if (p === undefined) {
    throw new AppError(
      kind === 'keystore' ? 'KEYSTORE_LOCKED' : 'VALIDATION',
      kind === 'keystore'
        ? 'The keystore file needs its passphrase: pass --passphrase-file <file> or set MODEL_VAULT_PASSPHRASE (or run in a terminal to be asked).'
        : 'A backup needs a passphrase: pass --backup-passphrase-file <file> or set MODEL_VAULT_BACKUP_PASSPHRASE (or run in a terminal to be asked).',
    );
  }
  return p;
}

type StoreNeed = 'list' | 'read' | 'write';

async function openStore(args: ParsedArgs, io: CliIo, need: StoreNeed): Promise<KeyStore> {
  const kind = stringFlag(args, 'store') ?? io.env.MODEL_VAULT_STORE ?? 'keychain';
  if (kind === 'keychain') return KeychainKeyStore.open();
  if (kind !== 'file') throw new AppError('VALIDATION', 'usage: --store must be "keychain" or "file".');
  const path = stringFlag(args, 'keystore') ?? keystorePath(io.env);
  if (need === 'list') {
    const pw = await passphrase(args, io, 'keystore', false);
    return FileKeyStore.open(path, pw === undefined ? {} : { passphrase: pw });
  }
  const pw = await requirePassphrase(args, io, 'keystore', false);
  if (need === 'write') return FileKeyStore.openOrCreate(path, pw, { params: scryptParams(io.env) });
  return FileKeyStore.open(path, { passphrase: pw });
}

function print(io: CliIo, json: Record<string, unknown>, human: string): void {
  io.out(io.json ? JSON.stringify({ ok: true, ...json }) : human);
}

function infoLine(k: StoredKeyInfo): string {
  const flags = [k.kind === 'signing' && k.verifyOnly ? 'verify-only' : undefined, k.meta.label === undefined ? undefined : `"${k.meta.label}"`].filter((x) => x !== undefined).join(' ');
  return `${k.kid.padEnd(28)} ${k.kind.padEnd(8)} ${k.alg.padEnd(17)} ${formatFingerprint(k.fingerprint)}${flags === '' ? '' : '  ' + flags}`;
}

function safeInfo(k: StoredKeyInfo): Record<string, unknown> {
  return { kid: k.kid, kind: k.kind, alg: k.alg, fingerprint: k.fingerprint, verifyOnly: k.verifyOnly, createdAt: k.meta.createdAt, origin: k.meta.origin, ...(k.meta.label === undefined ? {} : { label: k.meta.label }) };
}

interface AuditOutcome {
  readonly object?: string;
  readonly details?: Record<string, AuditDetailValue>;
  readonly exit?: number;
}

/** Runs a command body and logs it (ok, or failed/denied with the error code) to the audit log. */
/**
 * The audit checkpoint signer: the signing key named by MODEL_VAULT_AUDIT_KID in the chosen store. Without it the
 * log is hash-chained but has no signed checkpoints; a missing key is a warning, never a failed command.
 */
async function auditSigner(args: ParsedArgs, io: CliIo): Promise<SigningKey | undefined> {
  const kid = io.env.MODEL_VAULT_AUDIT_KID;
  if (kid === undefined || kid === '') return undefined;
  try {
    const store = await openStore(args, io, 'read');
    const s = await store.get(kid);
    if (s?.key.kind === 'signing' && s.key.seed !== undefined) return s.key;
    io.err(`warning: MODEL_VAULT_AUDIT_KID names no signing key in ${store.info.location}; audit checkpoints are not signed`);
  } catch (e) {
    io.err(`warning: the audit signing key is not available (${toErrorInfo(e).code}); audit checkpoints are not signed`);
  }
  return undefined;
}

function checkpointEvery(io: CliIo): number {
  const n = Number(io.env.MODEL_VAULT_AUDIT_CHECKPOINT_EVERY ?? '50');
  return Number.isInteger(n) && n >= 1 ? n : 50;
}

async function audited(io: CliIo, args: ParsedArgs, action: string, object: string, body: () => Promise<AuditOutcome>): Promise<number> {
  const signer = await auditSigner(args, io);
  const log = new AuditLog(auditLogPath(io.env), { ...(signer === undefined ? {} : { signer }), checkpointEvery: checkpointEvery(io) });
  const actor = actorOf(io);
  let outcome: AuditOutcome;
  try {
    outcome = await body();
  } catch (e) {
    const code = isAppError(e) ? e.code : 'INTERNAL';
    const result: AuditResult = code === 'PASSPHRASE_WRONG' || code === 'KEYSTORE_LOCKED' || code === 'AUTH_FAILED' ? 'denied' : 'failed';
    await log.append({ actor, action, object: object || '-', result, details: { code } }).catch(() => io.err(`warning: could not write the audit log ${log.path}`));
    throw e;
  }
  await log.append({ actor, action, object: outcome.object ?? (object || '-'), result: 'ok', ...(outcome.details === undefined ? {} : { details: outcome.details }) });
  return outcome.exit ?? EXIT.OK;
}

function keyDetails(key: KeyMaterial, store: KeyStore): Record<string, AuditDetailValue> {
  return { keyFingerprint: fingerprintOf(key), alg: key.alg, keyKind: key.kind, keyStore: store.info.kind };
}

// ---------------------------------------------------------------------------------------------------------------
// keys new | list | show | delete

const NEW_USAGE = 'keys new [--alg aes256gcm|aes128gcm|chacha20poly1305|ed25519] [--kid <kid>] [--label <text>] [--store keychain|file] [--json]';

const keysNew: CliCommand = {
  words: ['keys', 'new'],
  summary: 'create a master key or an Ed25519 signing key in the keychain or the file keystore',
  usage: NEW_USAGE,
  help: 'Prints the kid and fingerprint, never the key. --store file keeps keys in an encrypted file (for machines without a keychain).',
  run: (args, io) =>
    audited(io, args, 'keys.new', stringFlag(args, 'kid') ?? '', async () => {
      const alg = stringFlag(args, 'alg') ?? 'aes256gcm';
      const kid = stringFlag(args, 'kid');
      if (kid !== undefined) assertValidKid(kid);
      if (alg !== 'ed25519' && !(MASTER_ALGS as readonly string[]).includes(alg)) throw usageError(NEW_USAGE, `unknown --alg ${alg.slice(0, 40)}`);
      const key = alg === 'ed25519' ? generateSigningKey(kid === undefined ? {} : { kid }) : generateMasterKey(alg as MasterAlg, kid === undefined ? {} : { kid });
      const store = await openStore(args, io, 'write');
      const label = stringFlag(args, 'label');
      await store.put({ key, meta: { createdAt: new Date().toISOString(), origin: 'generated', ...(label === undefined ? {} : { label }) } });
      const info = describeKey(key);
      print(io, { key: { ...info, store: store.info.kind, location: store.info.location } }, `created ${info.kind} key ${info.kid ?? ''} (${info.alg}) in ${store.info.location}\nfingerprint ${formatFingerprint(info.fingerprint)}`);
      return { object: info.kid ?? '-', details: keyDetails(key, store) };
    }),
};

const keysList: CliCommand = {
  words: ['keys', 'list'],
  summary: 'list keys (kid, kind, alg, fingerprint), never key bytes',
  usage: 'keys list [--store keychain|file] [--json]',
  run: (args, io) =>
    audited(io, args, 'keys.list', '-', async () => {
      const store = await openStore(args, io, 'list');
      const keys = await store.list();
      print(io, { store: store.info.kind, location: store.info.location, keys: keys.map(safeInfo) }, keys.length === 0 ? `no keys in ${store.info.location}` : [`keys in ${store.info.location}:`, ...keys.map(infoLine)].join('\n'));
      return { details: { keyCount: keys.length, keyStore: store.info.kind } };
    }),
};

const keysShow: CliCommand = {
  words: ['keys', 'show'],
  summary: 'show one key: kind, alg, fingerprint, metadata, and the public key of a signing key',
  usage: 'keys show <kid> [--store keychain|file] [--json]',
  run: (args, io) => {
    const kid = args.positionals[0];
    return audited(io, args, 'keys.show', kid ?? '', async () => {
      if (kid === undefined) throw usageError('keys show <kid>', 'missing kid');
      const store = await openStore(args, io, 'list');
      const info = (await store.list()).find((k) => k.kid === kid);
      if (info === undefined) throw new AppError('KEY_NOT_FOUND', `No key "${kid}" in ${store.info.location}. Run "${PROGRAM} keys list".`);
      let publicJwk: string | undefined;
      if (info.kind === 'signing' && (store.info.kind !== 'file' || (store as FileKeyStore).unlocked)) {
        const stored = await store.get(kid);
        if (stored?.key.kind === 'signing') publicJwk = serializeJwk(publicHalf(stored.key), { includeSecret: false });
      }
      const lines = [infoLine(info), `created ${info.meta.createdAt} (${info.meta.origin})`, ...(publicJwk === undefined ? [] : [`public JWK: ${publicJwk}`])];
      print(io, { key: safeInfo(info), ...(publicJwk === undefined ? {} : { publicJwk: JSON.parse(publicJwk) as unknown }) }, lines.join('\n'));
      return { details: { keyFingerprint: info.fingerprint } };
    });
  },
};

const keysDelete: CliCommand = {
  words: ['keys', 'delete'],
  summary: 'delete a key from the store (asks for --yes; export a backup first)',
  usage: 'keys delete <kid> --yes [--store keychain|file] [--json]',
  run: (args, io) => {
    const kid = args.positionals[0];
    return audited(io, args, 'keys.delete', kid ?? '', async () => {
      if (kid === undefined) throw usageError('keys delete <kid> --yes', 'missing kid');
      if (!bool(args, 'yes')) throw usageError('keys delete <kid> --yes', 'deleting a key is permanent: confirm with --yes');
      const inUse = (await loadKeysets(keysetsPath(io.env))).keysets.flatMap((ks) => ks.entries.filter((e) => e.kid === kid && e.state !== 'retired').map((e) => `${e.state} in the ${ks.purpose} keyset of ${ks.owner}`));
      if (inUse.length > 0) throw new AppError('VALIDATION', `Key ${kid} is ${inUse.join(', ')}: old keys are kept until retired. Retire it first ("${PROGRAM} keys retire ${kid}").`);
      const store = await openStore(args, io, 'read');
      const stored = await store.get(kid);
      if (stored === undefined) throw new AppError('KEY_NOT_FOUND', `No key "${kid}" in ${store.info.location}.`);
      await store.delete(kid);
      print(io, { deleted: kid, fingerprint: fingerprintOf(stored.key) }, `deleted ${kid} (${formatFingerprint(fingerprintOf(stored.key))}) from ${store.info.location}`);
      return { details: keyDetails(stored.key, store) };
    });
  },
};

// ---------------------------------------------------------------------------------------------------------------
// keys export | import

const EXPORT_USAGE = 'keys export <kid>... [--out <file>] [--public | --plaintext --out <file>] [--store keychain|file] [--json]';

const keysExport: CliCommand = {
  words: ['keys', 'export'],
  summary: 'export keys: a passphrase-encrypted backup (default), public keys (--public), or plaintext to a file (--plaintext, with a warning)',
  usage: EXPORT_USAGE,
  help: 'The backup is encrypted with scrypt + XChaCha20-Poly1305 under a passphrase (--backup-passphrase-file or MODEL_VAULT_BACKUP_PASSPHRASE). --plaintext writes the keys unencrypted, only to a file (mode 0600), never to the terminal.',
  run: (args, io) => {
    const kids = positionalsWith(args, 'public');
    return audited(io, args, 'keys.export', kids.join(',').slice(0, 500), async () => {
      if (kids.length === 0) throw usageError(EXPORT_USAGE, 'name at least one kid');
      const out = stringFlag(args, 'out');
      const mode = bool(args, 'public') ? 'public' : bool(args, 'plaintext') ? 'plaintext' : 'backup';
      const store = await openStore(args, io, 'read');
      const keys: KeyMaterial[] = [];
      for (const kid of kids) {
        const s = await store.get(kid);
        if (s === undefined) throw new AppError('KEY_NOT_FOUND', `No key "${kid}" in ${store.info.location}.`);
        keys.push(s.key);
      }
      let text: string;
      if (mode === 'public') {
        if (keys.some((k) => k.kind !== 'signing')) throw new AppError('VALIDATION', 'Master keys have no public part: --public exports signing keys only.');
        text = serializeJwkSet(keys.map((k) => (k.kind === 'signing' ? publicHalf(k) : k)), { includeSecret: false });
      } else if (mode === 'plaintext') {
        if (out === undefined) throw usageError(EXPORT_USAGE, '--plaintext writes only to a file: add --out <file>');
        io.err(PLAINTEXT_EXPORT_WARNING);
        text = exportPlaintext(keys, { iUnderstandThisIsPlaintext: true }) + '\n';
      } else {
        const pw = await requirePassphrase(args, io, 'backup', true);
        text = await exportBackup(keys, pw, { params: scryptParams(io.env) });
      }
      if (out !== undefined) await writeFileAtomic(out, text, { mode: 0o600 });
      const summary = keys.map((k) => ({ kid: k.kid, kind: k.kind, alg: k.alg, fingerprint: fingerprintOf(k) }));
      if (out === undefined) {
        // backup (encrypted) or public keys only: safe to print
        if (io.json) io.out(JSON.stringify({ ok: true, format: mode, keys: summary, document: JSON.parse(text) as unknown }));
        else io.out(text.trimEnd());
      } else {
        print(io, { format: mode, out, keys: summary }, `exported ${keys.length} key(s) as ${mode === 'backup' ? 'an encrypted backup' : mode} to ${out}`);
      }
      return { object: kids.join(',').slice(0, 500), details: { format: mode, keyCount: keys.length, keyStore: store.info.kind } };
    });
  },
};

const IMPORT_USAGE = 'keys import <file> [--kid <kid>] [--label <text>] [--force] [--store keychain|file] [--json]';

const keysImport: CliCommand = {
  words: ['keys', 'import'],
  summary: 'import keys from a backup, a JWK or a JWK Set (CryptoTensors dialect or RFC 7517/8037)',
  usage: IMPORT_USAGE,
  run: (args, io) => {
    const file = args.positionals[0];
    return audited(io, args, 'keys.import', file ?? '', async () => {
      if (file === undefined) throw usageError(IMPORT_USAGE, 'missing file');
      let text: string;
      try {
        text = await fs.readFile(file, 'utf8');
      } catch (e) {
        throw new AppError('IO_ERROR', `Could not read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: e });
      }
      let keys = isBackupText(text) ? await importBackup(text, await requirePassphrase(args, io, 'backup', false)) : parseJwkOrSet(text, { where: file });
      const kid = stringFlag(args, 'kid');
      if (kid !== undefined) {
        if (keys.length !== 1) throw usageError(IMPORT_USAGE, '--kid only applies to a file with one key');
        keys = [withKid(keys[0] as KeyMaterial, kid)];
      }
      keys = keys.map((k) => (k.kid === undefined ? withKid(k, generateKid(k.kind, fingerprintOf(k))) : k));
      for (const k of keys) {
        try {
          assertValidKid(k.kid as string);
        } catch (e) {
          throw new AppError('VALIDATION', `${toErrorInfo(e).message} Give the key a new kid with --kid.`);
        }
      }
      const store = await openStore(args, io, 'write');
      const label = stringFlag(args, 'label');
      for (const k of keys) await store.put({ key: k, meta: { createdAt: new Date().toISOString(), origin: 'imported', ...(label === undefined ? {} : { label }) } }, { overwrite: bool(args, 'force') });
      const infos = keys.map(describeKey);
      print(io, { imported: infos, store: store.info.kind }, infos.map((i) => `imported ${i.kind} key ${i.kid ?? ''} (${i.alg}) ${formatFingerprint(i.fingerprint)}`).join('\n'));
      return { object: infos.map((i) => i.kid).join(',').slice(0, 500), details: { keyCount: keys.length, keyStore: store.info.kind } };
    });
  },
};

// ---------------------------------------------------------------------------------------------------------------
// keys trust | untrust

const TRUST_USAGE = 'keys trust [<kid>|<public-jwk-file>|<fingerprint>] [--scope any|producer:<id>|model:<id>] [--note <text>] [--json]';

async function signerPublicKey(args: ParsedArgs, io: CliIo, ref: string): Promise<{ publicKey: Uint8Array; kid?: string }> {
  const trust = await loadTrustStore(trustStorePath(io.env));
  const known = findByFingerprintOrKid(trust, ref)[0];
  if (known !== undefined) return { publicKey: publicKeyOf(known), ...(known.kid === undefined ? {} : { kid: known.kid }) };
  const isFile = await fs.stat(ref).then(
    (s) => s.isFile(),
    () => false,
  );
  if (isFile) {
    const keys = parseJwkOrSet(await fs.readFile(ref, 'utf8'), { where: ref }).filter((k) => k.kind === 'signing');
    if (keys.length !== 1) throw new AppError('VALIDATION', `${ref} must hold exactly one Ed25519 public key.`);
    const k = keys[0] as KeyMaterial & { kind: 'signing' };
    return { publicKey: k.publicKey, ...(k.kid === undefined ? {} : { kid: k.kid }) };
  }
  const store = await openStore(args, io, 'read');
  const s = await store.get(ref);
  if (s === undefined || s.key.kind !== 'signing') throw new AppError('KEY_NOT_FOUND', `"${ref}" is not a signing key in ${store.info.location}, a known fingerprint, or a public JWK file.`);
  return { publicKey: s.key.publicKey, kid: ref };
}

function trustCommand(trusted: boolean): CliCommand {
  const words = trusted ? 'trust' : 'untrust';
  return {
    words: ['keys', words],
    summary: trusted ? 'pin a signer public key as trusted (per producer or model); without arguments, list the trust store' : 'mark a signer as known but untrusted in a scope',
    usage: trusted ? TRUST_USAGE : 'keys untrust <kid>|<public-jwk-file>|<fingerprint> [--scope any|producer:<id>|model:<id>] [--json]',
    run: (args, io) => {
      const ref = args.positionals[0];
      const path = trustStorePath(io.env);
      return audited(io, args, `keys.${words}`, ref ?? '-', async (): Promise<AuditOutcome> => {
        if (ref === undefined) {
          if (!trusted) throw usageError('keys untrust <kid|file|fingerprint>', 'missing signer');
          const t = await loadTrustStore(path);
          const rows = t.entries.map((e) => ({ fingerprint: e.fingerprint, kid: e.kid, scope: scopeToString(e.scope), trusted: e.trusted, updatedAt: e.updatedAt, note: e.note }));
          print(io, { trustStore: path, entries: rows }, rows.length === 0 ? `no signers in ${path}` : rows.map((r) => `${r.trusted ? 'trusted  ' : 'untrusted'} ${r.scope.padEnd(24)} ${formatFingerprint(r.fingerprint)} ${r.kid ?? ''}`).join('\n'));
          return { details: { keyCount: rows.length } };
        }
        const scope = parseScope(stringFlag(args, 'scope') ?? 'any');
        const { publicKey, kid } = await signerPublicKey(args, io, ref);
        const note = stringFlag(args, 'note');
        const opts = { ...(kid === undefined ? {} : { kid }), ...(note === undefined ? {} : { note }) };
        const next = await updateTrustStore(path, (t) => (trusted ? trustSigner(t, publicKey, scope, opts) : untrustSigner(t, publicKey, scope, opts)));
        const ctx = scope.kind === 'any' ? {} : scope.kind === 'producer' ? { producer: scope.id } : { model: scope.id };
        const verdict = evaluateSigner(next, publicKey, ctx);
        print(io, { fingerprint: verdict.fingerprint, kid, scope: scopeToString(scope), status: verdict.status }, `${formatFingerprint(verdict.fingerprint)} is now ${verdict.status} for ${scopeToString(scope)}`);
        return { object: kid ?? verdict.fingerprint, details: { keyFingerprint: verdict.fingerprint, scope: scopeToString(scope), status: verdict.status } };
      });
    },
  };
}

const PASSPHRASE_USAGE = 'keys passphrase [--keystore <file>] [--passphrase-file <old>] [--new-passphrase-file <new>] [--json]';

const keysPassphrase: CliCommand = {
  words: ['keys', 'passphrase'],
  summary: 'change the passphrase of the encrypted file keystore (re-encrypts it under a new salt)',
  usage: PASSPHRASE_USAGE,
  help: 'The new passphrase comes from --new-passphrase-file, MODEL_VAULT_NEW_PASSPHRASE, or a prompt on a terminal.',
  run: (args, io) =>
    audited(io, args, 'keys.passphrase', stringFlag(args, 'keystore') ?? keystorePath(io.env), async () => {
      const path = stringFlag(args, 'keystore') ?? keystorePath(io.env);
      const store = await FileKeyStore.open(path, { passphrase: await requirePassphrase(args, io, 'keystore', false) });
      const file = stringFlag(args, 'new-passphrase-file');
      let next = file === undefined ? io.env.MODEL_VAULT_NEW_PASSPHRASE : await readSecretFile(file, 'new passphrase');
      if ((next === undefined || next === '') && io.isTty && process.stdin.isTTY) {
        next = await promptHidden(io, 'New keystore passphrase: ');
        if ((await promptHidden(io, 'Repeat the new passphrase: ')) !== next) throw new AppError('VALIDATION', 'The passphrases do not match. Try again.');
      }
      if (next === undefined || next === '') throw usageError(PASSPHRASE_USAGE, 'give the new passphrase with --new-passphrase-file or MODEL_VAULT_NEW_PASSPHRASE');
      await store.changePassphrase(next, { params: scryptParams(io.env) });
      print(io, { keystore: path }, `the keystore ${path} is now encrypted under the new passphrase`);
      return { object: path };
    }),
};

// ---------------------------------------------------------------------------------------------------------------
// keys stage | promote | retire | keysets (app/keys/keyset.ts)


function keysetCommand(verb: KeysetVerb): CliCommand {
  const summaries: Record<KeysetVerb, string> = {
    stage: 'add a stored key to its keyset as staged (enc keyset for master keys, sign keyset for signing keys)',
    promote: 'make a staged key active; the active key becomes previous (still usable to read) until retired',
    retire: 'retire a previous or staged key: it is no longer used (the active key cannot be retired)',
  };
  const u = `keys ${verb} <kid> [--owner <producer>] [--store keychain|file] [--json]`;
  return {
    words: ['keys', verb],
    summary: summaries[verb],
    usage: u,
    run: (args, io) => {
      const kid = args.positionals[0];
      return audited(io, args, `keys.${verb}`, kid ?? '', async () => {
        if (kid === undefined) throw usageError(u, 'missing kid');
        const owner = stringFlag(args, 'owner') ?? 'default';
        let info: StoredKeyInfo | undefined;
        if (verb === 'stage') {
          const store = await openStore(args, io, 'list');
          info = (await store.list()).find((k) => k.kid === kid);
          if (info === undefined) throw new AppError('KEY_NOT_FOUND', `No key "${kid}" in ${store.info.location}.`);
        }
        const { purpose, keyset: ks, entry } = await changeKeysetState(keysetsPath(io.env), verb, kid, owner, info);
        print(io, { owner, purpose, kid, state: entry?.state, keyset: ks }, `${kid} is now ${entry?.state ?? '?'} in the ${purpose} keyset of ${owner}`);
        return { details: { owner, purpose, state: entry?.state ?? 'unknown', ...(entry === undefined ? {} : { keyFingerprint: entry.fingerprint }) } };
      });
    },
  };
}

const keysKeysets: CliCommand = {
  words: ['keys', 'keysets'],
  summary: 'show the keysets: which key is active, staged, previous or retired',
  usage: 'keys keysets [--json]',
  run: async (_args, io) => {
    const path = keysetsPath(io.env);
    const f = await loadKeysets(path);
    const lines = f.keysets.flatMap((ks) => [`${ks.owner} ${ks.purpose}:`, ...ks.entries.map((e) => `  ${e.state.padEnd(8)} ${e.kid.padEnd(28)} ${e.alg.padEnd(17)} ${formatFingerprint(e.fingerprint)}`)]);
    print(io, { file: path, keysets: f.keysets }, lines.length === 0 ? `no keysets in ${path}` : lines.join('\n'));
    return EXIT.OK;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// keys split | combine (M-of-N approval, app/keys/shamir.ts)

const SPLIT_USAGE = 'keys split <kid> --threshold <M> --shares <N> --out-dir <dir> [--store keychain|file] [--json]';

const keysSplit: CliCommand = {
  words: ['keys', 'split'],
  summary: 'split a master key into N shares of which any M rebuild it (one file per share, never printed)',
  usage: SPLIT_USAGE,
  help: 'Shamir sharing over GF(256) with a commitment and per-share MACs, so a tampered share is detected (app/keys/README.md). Hand each share file to a different person.',
  run: (args, io) => {
    const kid = args.positionals[0];
    return audited(io, args, 'keys.split', kid ?? '', async () => {
      if (kid === undefined) throw usageError(SPLIT_USAGE, 'missing kid');
      const m = Number(stringFlag(args, 'threshold'));
      const n = Number(stringFlag(args, 'shares'));
      const dir = stringFlag(args, 'out-dir');
      if (dir === undefined) throw usageError(SPLIT_USAGE, 'shares are written only to files: add --out-dir <dir>');
      const store = await openStore(args, io, 'read');
      const s = await store.get(kid);
      if (s === undefined) throw new AppError('KEY_NOT_FOUND', `No key "${kid}" in ${store.info.location}.`);
      if (s.key.kind !== 'master') throw new AppError('VALIDATION', 'Only master keys are split; signing keys are rotated instead.');
      const shares = splitSecret(s.key.key, m, n, JSON.stringify({ kid, alg: s.key.alg, fingerprint: fingerprintOf(s.key) }));
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      const files: string[] = [];
      for (const share of shares) {
        const file = join(dir, `${kid}.share-${share.index}-of-${n}.txt`);
        await writeFileAtomic(file, `${encodeShare(share)}\n`, { mode: 0o600 });
        files.push(file);
      }
      print(io, { kid, fingerprint: fingerprintOf(s.key), threshold: m, total: n, files }, [`split ${kid} into ${n} shares; any ${m} rebuild it:`, ...files.map((f) => `  ${f}`)].join('\n'));
      return { details: { keyFingerprint: fingerprintOf(s.key), threshold: m, total: n } };
    });
  },
};

const COMBINE_USAGE = 'keys combine <share-file>... [--kid <kid>] [--force] [--store keychain|file] [--json]';

const keysCombine: CliCommand = {
  words: ['keys', 'combine'],
  summary: 'rebuild a master key from M share files and store it; tampered shares are named',
  usage: COMBINE_USAGE,
  run: (args, io) =>
    audited(io, args, 'keys.combine', '-', async () => {
      if (args.positionals.length === 0) throw usageError(COMBINE_USAGE, 'give the share files');
      const shares = [];
      for (const file of args.positionals) {
        let text: string;
        try {
          text = await fs.readFile(file, 'utf8');
        } catch (e) {
          throw new AppError('IO_ERROR', `Could not read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: e });
        }
        shares.push(decodeShare(text));
      }
      const r = combineShares(shares);
      try {
        let meta: { kid?: unknown; alg?: unknown; fingerprint?: unknown };
        try {
          meta = JSON.parse(r.meta) as typeof meta;
        } catch {
          meta = {};
        }
        const alg = typeof meta.alg === 'string' ? normalizeMasterAlg(meta.alg) : undefined;
        if (alg === undefined) throw new AppError('KEY_INVALID', 'The shares do not say which algorithm the key uses; they were not made by "model-vault keys split".');
        const kid = stringFlag(args, 'kid') ?? (typeof meta.kid === 'string' ? meta.kid : undefined);
        if (kid === undefined) throw usageError(COMBINE_USAGE, 'add --kid');
        const key = makeMasterKey(alg, r.secret, { kid });
        if (typeof meta.fingerprint === 'string' && meta.fingerprint !== fingerprintOf(key)) throw new AppError('KEY_INVALID', 'The rebuilt key does not match the fingerprint recorded in the shares.');
        const store = await openStore(args, io, 'write');
        await store.put({ key, meta: { createdAt: new Date().toISOString(), origin: 'combined' } }, { overwrite: bool(args, 'force') });
        if (r.rejected.length > 0) io.err(`warning: share(s) ${r.rejected.join(', ')} failed their integrity check and were not needed; replace them.`);
        print(io, { kid, fingerprint: fingerprintOf(key), usedShares: r.verified, rejectedShares: r.rejected }, `rebuilt ${kid} (${formatFingerprint(fingerprintOf(key))}) from ${r.verified.length} share(s) into ${store.info.location}`);
        return { object: kid, details: { keyFingerprint: fingerprintOf(key), givenCount: shares.length, rejectedCount: r.rejected.length } };
      } finally {
        r.secret.fill(0);
      }
    }),
};

// ---------------------------------------------------------------------------------------------------------------
// audit show | verify

const auditShow: CliCommand = {
  words: ['audit', 'show'],
  summary: 'show the audit log (most recent last)',
  usage: 'audit show [--limit <n>] [--json]',
  run: async (args, io) => {
    const path = auditLogPath(io.env);
    const limit = Number(stringFlag(args, 'limit') ?? '50');
    if (!Number.isInteger(limit) || limit < 1) throw usageError('audit show [--limit <n>]', '--limit must be a positive integer');
    const lines = splitLines(await readAuditLogText(path));
    const entries = lines.slice(-limit).map((l) => parseEntry(l) ?? { malformed: true });
    if (io.json) io.out(JSON.stringify({ ok: true, log: path, total: lines.length, entries }));
    else {
      io.out(
        entries.length === 0
          ? `the audit log ${path} is empty`
          : entries.map((e) => ('seq' in e ? `${String(e.seq).padStart(6)} ${e.time} ${e.actor} ${e.action} ${e.object} ${e.result}${e.details === undefined ? '' : ' ' + JSON.stringify(e.details)}` : '     ? (malformed entry)')).join('\n'),
      );
    }
    return EXIT.OK;
  },
};

const AUDIT_VERIFY_USAGE = 'audit verify [--head <seq>:<hash>] [--trusted-signer <fingerprint>]... [--json]';

const auditVerify: CliCommand = {
  words: ['audit', 'verify'],
  summary: 'check the audit log: edits, deletions, insertions, reordering, checkpoint signatures (exit 3 on failure)',
  usage: AUDIT_VERIFY_USAGE,
  run: async (args, io) => {
    const path = auditLogPath(io.env);
    const headText = stringFlag(args, 'head');
    let expectedHead: { seq: number; hash: string } | undefined;
    if (headText !== undefined) {
      const m = /^(\d+):([0-9a-f]{64})$/.exec(headText);
      if (m === null) throw usageError(AUDIT_VERIFY_USAGE, '--head is <seq>:<64 hex digits>');
      expectedHead = { seq: Number(m[1]), hash: m[2] as string };
    }
    const signers = (args.all['trusted-signer'] ?? []).filter((v): v is string => typeof v === 'string');
    const report = verifyAuditLog(await readAuditLogText(path), {
      ...(expectedHead === undefined ? {} : { expectedHead }),
      ...(signers.length === 0 ? {} : { isTrustedSigner: (pk: Uint8Array) => signers.includes(fingerprintOf({ kind: 'signing', alg: 'ed25519', algSpelling: 'ed25519', publicKey: pk })) }),
    });
    if (io.json) io.out(JSON.stringify({ log: path, ...report }));
    else {
      const head = report.head === undefined ? 'empty' : `head seq ${report.head.seq} ${report.head.hash}`;
      io.out(
        [
          `${report.ok ? 'OK' : 'TAMPERED'}: ${report.entries} entries, ${report.checkpoints} valid checkpoint(s), ${report.unsignedTail} entr${report.unsignedTail === 1 ? 'y' : 'ies'} after the last checkpoint; ${head}`,
          ...report.problems.map((p) => `  entry ${p.entry}: [${p.kind}] ${p.message}`),
        ].join('\n'),
      );
    }
    return report.ok ? EXIT.OK : EXIT.VERIFY_FAILED;
  },
};

export const commands: CliCommand[] = [keysNew, keysList, keysShow, keysExport, keysImport, keysDelete, keysPassphrase, trustCommand(true), trustCommand(false), keysetCommand('stage'), keysetCommand('promote'), keysetCommand('retire'), keysKeysets, keysSplit, keysCombine, auditShow, auditVerify];
