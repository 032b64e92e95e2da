/**
 * Where Model Vault keeps its key-related files. Environment variables (documented in app/keys/README.md):
 *   MODEL_VAULT_HOME       folder for everything below (default: the app's data directory, see app/node/config.ts)
 *   MODEL_VAULT_KEYSTORE   the encrypted file keystore (default: <home>/keystore.json)
 *   MODEL_VAULT_TRUST      the trust store (default: <home>/trust.json)
 *   MODEL_VAULT_AUDIT_LOG  the audit log (default: <home>/audit.log)
 */
import { join } from 'node:path';
import { AppError } from '../../errors.ts';
import { DEFAULT_SCRYPT, type ScryptParams } from '../../keys/passphrase-envelope.ts';
import { defaultDataDir } from '../config.ts';

export type Env = Readonly<Record<string, string | undefined>>;

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

/** The app's data directory: the one definition lives in app/node/config.ts (`defaultDataDir`). */
export function modelVaultHome(env: Env): string {
  return defaultDataDir(env);
}

export function keystorePath(env: Env): string {
  return nonEmpty(env.MODEL_VAULT_KEYSTORE) ?? join(modelVaultHome(env), 'keystore.json');
}

export function trustStorePath(env: Env): string {
  return nonEmpty(env.MODEL_VAULT_TRUST) ?? join(modelVaultHome(env), 'trust.json');
}

export function auditLogPath(env: Env): string {
  return nonEmpty(env.MODEL_VAULT_AUDIT_LOG) ?? join(modelVaultHome(env), 'audit.log');
}

/** The KDF cost of a new or re-keyed file keystore: MODEL_VAULT_SCRYPT_LOG_N (10–20; tests make it cheap), else the default. */
export function scryptParams(env: Env): ScryptParams {
  const log = env.MODEL_VAULT_SCRYPT_LOG_N;
  if (log === undefined || log === '') return DEFAULT_SCRYPT;
  const n = Number(log);
  if (!Number.isInteger(n) || n < 10 || n > 20) throw new AppError('VALIDATION', 'MODEL_VAULT_SCRYPT_LOG_N must be an integer from 10 to 20.');
  return { ...DEFAULT_SCRYPT, N: 2 ** n };
}
