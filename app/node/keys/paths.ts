/**
 * Where Model Vault keeps its key-related files. Environment variables (documented in app/keys/README.md):
 *   MODEL_VAULT_HOME       folder for everything below (default: $XDG_CONFIG_HOME/model-vault or ~/.config/model-vault;
 *                          %APPDATA%\model-vault on Windows; ~/Library/Application Support/model-vault on macOS)
 *   MODEL_VAULT_KEYSTORE   the encrypted file keystore (default: <home>/keystore.json)
 *   MODEL_VAULT_TRUST      the trust store (default: <home>/trust.json)
 *   MODEL_VAULT_AUDIT_LOG  the audit log (default: <home>/audit.log)
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export type Env = Readonly<Record<string, string | undefined>>;

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

export function modelVaultHome(env: Env, platform: NodeJS.Platform = process.platform): string {
  const explicit = nonEmpty(env.MODEL_VAULT_HOME);
  if (explicit !== undefined) return explicit;
  const home = nonEmpty(env.HOME) ?? homedir();
  if (platform === 'win32') return join(nonEmpty(env.APPDATA) ?? join(home, 'AppData', 'Roaming'), 'model-vault');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'model-vault');
  return join(nonEmpty(env.XDG_CONFIG_HOME) ?? join(home, '.config'), 'model-vault');
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
