/**
 * Whether the OS keychain can be used here, and if not, why and what to do instead. Shown on the home screen and by
 * `model-vault status`. The probe goes through the keychain adapter and never reads or prints a secret: it lists the
 * account names under our service, with a time limit (a missing Secret Service can make libsecret wait).
 */
import { AppError } from '../errors.ts';
import type { KeychainStatus } from '../ipc/contract.ts';

const PROBE_TIMEOUT_MS = 4000;

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
  if (process.platform === 'linux' && (process.env.DBUS_SESSION_BUS_ADDRESS ?? '') === '') {
    return { available: false, backend, reason: `No D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set), so no Secret Service can be reached. ${FALLBACK}` };
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const keytar = (await import('keytar')).default;
    await Promise.race([
      keytar.findCredentials('model-vault').then((found) => found.length),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new AppError('KEYCHAIN_UNAVAILABLE', 'timeout')), PROBE_TIMEOUT_MS);
      }),
    ]);
    return { available: true, backend };
  } catch (e) {
    const why = e instanceof AppError && e.message === 'timeout' ? `the keychain did not answer within ${PROBE_TIMEOUT_MS / 1000} s (is it locked or not running?)` : 'the keychain refused the request or is not running';
    return { available: false, backend, reason: `${why[0]?.toUpperCase() ?? ''}${why.slice(1)}. ${FALLBACK}` };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
