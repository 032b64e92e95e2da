/**
 * Rego errors. Every error carries an OPA error code (`regoCode`) so callers and the conformance runner can judge
 * them exactly as OPA does, plus the AppError code for the rest of the app.
 */
import { AppError, type ErrorCode } from '../../errors.ts';

export const REGO_CODES = {
  parse: 'rego_parse_error',
  compile: 'rego_compile_error',
  type: 'rego_type_error',
  unsafeVar: 'rego_unsafe_var_error',
  recursion: 'rego_recursion_error',
  evalType: 'eval_type_error',
  evalBuiltin: 'eval_builtin_error',
  evalConflict: 'eval_conflict_error',
  evalCancel: 'eval_cancel_error',
  unsupported: 'rego_unsupported_error',
  limit: 'eval_limit_error',
} as const;

export type RegoCode = (typeof REGO_CODES)[keyof typeof REGO_CODES];

export interface Location {
  readonly file: string;
  readonly row: number;
  readonly col: number;
}

function appCode(code: RegoCode): ErrorCode {
  switch (code) {
    case 'rego_parse_error':
    case 'rego_compile_error':
    case 'rego_type_error':
    case 'rego_unsafe_var_error':
    case 'rego_recursion_error':
      return 'POLICY_INVALID';
    case 'rego_unsupported_error':
      return 'UNSUPPORTED';
    case 'eval_limit_error':
    case 'eval_cancel_error':
      return 'POLICY_LIMIT';
    case 'eval_type_error':
    case 'eval_builtin_error':
    case 'eval_conflict_error':
      return 'POLICY_INVALID';
  }
}

export class RegoError extends AppError {
  readonly regoCode: RegoCode;
  readonly location: Location | undefined;
  readonly detail: string;

  constructor(regoCode: RegoCode, detail: string, location?: Location) {
    const where = location === undefined ? '' : `${location.file}:${location.row}: `;
    super(appCode(regoCode), `${where}${regoCode}: ${detail}`);
    this.regoCode = regoCode;
    this.location = location;
    this.detail = detail;
  }
}

export function isRegoError(e: unknown): e is RegoError {
  return e instanceof RegoError;
}

/** A builtin failure (raised as eval_builtin_error or eval_type_error depending on `code`). */
export class BuiltinError extends Error {
  readonly code: 'eval_type_error' | 'eval_builtin_error';
  /** Halting errors are raised even without strict builtin errors. */
  readonly halt: boolean;
  constructor(message: string, code: 'eval_type_error' | 'eval_builtin_error' = 'eval_builtin_error', halt = false) {
    super(message);
    this.code = code;
    this.halt = halt;
  }
}
