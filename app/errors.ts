/**
 * Typed errors for the whole app.
 *
 * An `AppError` is an expected failure (bad input, wrong key, tampered file, unreachable broker): it has a code
 * from the closed list below and a message that is safe to show (never key bytes, passphrases, plaintext or
 * tokens) and says what to do next. Check `isAppError(e) && e.code === …`, not `instanceof`: errors cross
 * worker and IPC boundaries where prototypes are lost.
 *
 * A `BugError` is a broken invariant inside our own code. It is never blamed on the user.
 */

export const ERROR_CODES = [
  // generic
  'VALIDATION',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'CANCELLED',
  'UNSUPPORTED',
  'IO_ERROR',
  'INTERNAL',
  'LIMIT_EXCEEDED',
  // auth and keys
  'AUTH_FAILED',
  'KEY_NOT_FOUND',
  'KEY_INVALID',
  'KEY_ALG_MISMATCH',
  'KEYCHAIN_UNAVAILABLE',
  'KEYSTORE_LOCKED',
  'PASSPHRASE_WRONG',
  // format and crypto
  'FORMAT_INVALID',
  'HEADER_TOO_LARGE',
  'HEADER_INVALID_JSON',
  'HEADER_DUPLICATE_KEY',
  'DTYPE_UNKNOWN',
  'OFFSETS_INVALID',
  'SHAPE_MISMATCH',
  'TRAILING_BYTES',
  'CRYPTO_METADATA_INVALID',
  'BAD_SIGNATURE',
  'SIGNATURE_MISSING',
  'SIGNER_UNTRUSTED',
  'DECRYPT_FAILED',
  'DIGEST_MISMATCH',
  'MANIFEST_MISMATCH',
  // policy
  'POLICY_DENIED',
  'POLICY_INVALID',
  'POLICY_LIMIT',
  // broker, licences, mount
  'BROKER_UNREACHABLE',
  'BROKER_REJECTED',
  'LICENCE_INVALID',
  'LICENCE_EXPIRED',
  'LICENCE_REVOKED',
  'REPLAY_DETECTED',
  'RATE_LIMITED',
  'MOUNT_FAILED',
  'AUDIT_TAMPERED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const CODE_SET: ReadonlySet<string> = new Set(ERROR_CODES);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && CODE_SET.has(value);
}

export class AppError extends Error {
  readonly code: ErrorCode;
  /** Marker that survives structured cloning checks where `instanceof` does not. */
  readonly isAppError = true as const;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
  }
}

export function isAppError(e: unknown): e is AppError {
  return typeof e === 'object' && e !== null && (e as { isAppError?: unknown }).isAppError === true && isErrorCode((e as { code?: unknown }).code);
}

/** A broken invariant in our own code: a bug, never the user's fault. */
export class BugError extends Error {
  constructor(message: string) {
    super(`internal error (a bug in Model Vault, please report it): ${message}`);
    this.name = 'BugError';
  }
}

/** The plain-data form that crosses IPC and HTTP: never a stack, never a cause. */
export interface ErrorInfo {
  readonly code: ErrorCode;
  readonly message: string;
}

export function toErrorInfo(e: unknown): ErrorInfo {
  if (isAppError(e)) return { code: e.code, message: e.message };
  return { code: 'INTERNAL', message: 'An unexpected internal error occurred. See the application log for details and report it.' };
}
