/**
 * Key backups: a set of keys exported under a passphrase (`model-vault/key-backup`, a passphrase envelope whose
 * plaintext is a reference-dialect JWK Set), or, only when explicitly asked, as plaintext with a warning.
 *
 * The envelope's `public` part lists each key's kid, kind, alg and fingerprint so a backup can be identified
 * without the passphrase; on import the decrypted keys must match that list exactly.
 */
import { fromUtf8, utf8 } from '../crypto/bytes.ts';
import { AppError } from '../errors.ts';
import { canonicalJson } from './canonical-json.ts';
import { parseJwkOrSet, serializeJwkSet } from './jwk.ts';
import { describeKey, type KeyMaterial } from './key.ts';
import { openWithPassphrase, sealWithPassphrase, type ScryptParams } from './passphrase-envelope.ts';

export const BACKUP_FORMAT = 'model-vault/key-backup';

export const PLAINTEXT_EXPORT_WARNING =
  'WARNING: this output contains secret key material in plaintext. Anyone who reads it can decrypt or sign as you. ' +
  'Store it only on encrypted media and delete it when done; prefer a passphrase-encrypted backup.';

export interface BackupEntryInfo {
  readonly kid: string;
  readonly kind: string;
  readonly alg: string;
  readonly fingerprint: string;
}

function infoList(keys: readonly KeyMaterial[]): BackupEntryInfo[] {
  return keys.map((k) => {
    const i = describeKey(k);
    if (i.kid === undefined) throw new AppError('VALIDATION', 'Every key in a backup needs a kid.');
    return { kid: i.kid, kind: i.kind, alg: i.alg, fingerprint: i.fingerprint };
  });
}

export async function exportBackup(keys: readonly KeyMaterial[], passphrase: string, opts: { params?: ScryptParams; now?: Date } = {}): Promise<string> {
  if (keys.length === 0) throw new AppError('VALIDATION', 'Nothing to back up: no keys selected.');
  const entries = infoList(keys);
  const plaintext = utf8(serializeJwkSet(keys, { includeSecret: true }));
  try {
    return await sealWithPassphrase(passphrase, BACKUP_FORMAT, { createdAt: (opts.now ?? new Date()).toISOString(), keys: entries.map((e) => ({ ...e })) }, plaintext, opts.params);
  } finally {
    plaintext.fill(0);
  }
}

/** Reads the non-secret key list of a backup without the passphrase. */
export function describeBackup(text: string): BackupEntryInfo[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new AppError('VALIDATION', 'The backup is not valid JSON.');
  }
  const keys = (doc as { public?: { keys?: unknown } } | null)?.public?.keys;
  if (!Array.isArray(keys)) throw new AppError('VALIDATION', 'Not a Model Vault key backup.');
  return keys as BackupEntryInfo[];
}

export function isBackupText(text: string): boolean {
  try {
    return (JSON.parse(text) as { format?: unknown } | null)?.format === BACKUP_FORMAT;
  } catch {
    return false;
  }
}

export async function importBackup(text: string, passphrase: string): Promise<KeyMaterial[]> {
  const { envelope, plaintext } = await openWithPassphrase(passphrase, text, BACKUP_FORMAT, 'the key backup');
  try {
    const keys = parseJwkOrSet(fromUtf8(plaintext), { where: 'key backup' });
    const listed = canonicalJson(envelope.public.keys ?? null);
    if (canonicalJson(infoList(keys).map((e) => ({ ...e }))) !== listed) throw new AppError('VALIDATION', 'The key backup is inconsistent: its key list does not match its contents.');
    return keys;
  } finally {
    plaintext.fill(0);
  }
}

/** Plaintext JWK Set export; callers must have an explicit request from the user and show the warning. */
export function exportPlaintext(keys: readonly KeyMaterial[], confirm: { readonly iUnderstandThisIsPlaintext: true }): string {
  if (confirm.iUnderstandThisIsPlaintext !== true) throw new AppError('VALIDATION', 'Plaintext export needs explicit confirmation.');
  return serializeJwkSet(keys, { includeSecret: true });
}
