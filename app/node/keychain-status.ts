/**
 * Whether the OS keychain can be used here, and if not, why and what to do instead. Shown on the home screen and by
 * `model-vault status`. The probe goes through the keychain adapter (app/node/keys/keychain-keystore.ts, the one
 * file that loads keytar) and never reads or prints a secret.
 */
import type { KeychainStatus } from '../ipc/contract.ts';
import { keychainStatus } from './keys/keychain-keystore.ts';

function backendName(): string {
  switch (process.platform) {
    case 'darwin':
      return 'macOS Keychain';
    case 'win32':
      return 'Windows Credential Manager';
    default:
      return 'Secret Service (libsecret)';
  }
}

const FALLBACK = 'Use the encrypted file keystore instead (a passphrase-protected file; see `model-vault keys --help`).';

export async function probeKeychain(): Promise<KeychainStatus> {
  const backend = backendName();
  // Without a session bus libsecret may try to auto-launch one and wait: say why at once instead.
  if (process.platform === 'linux' && (process.env.DBUS_SESSION_BUS_ADDRESS ?? '') === '') {
    return { available: false, backend, reason: `No D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set), so no Secret Service can be reached. ${FALLBACK}` };
  }
  const status = await keychainStatus();
  if (status.available) return { available: true, backend };
  const why = status.reason.replace(/\.?\s*$/, '.');
  return { available: false, backend, reason: why.includes('file keystore') ? why : `${why} ${FALLBACK}` };
}
