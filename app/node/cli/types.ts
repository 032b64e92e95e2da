/**
 * The CLI's command interface. Each domain (format, keys, audit, broker, mount …) exports a list of
 * `CliCommand`s from `app/node/cli/<domain>.ts`; `app/node/cli/commands.ts` gathers them.
 *
 * Conventions:
 * - `--json` makes a command print exactly one JSON document (an object) on stdout and nothing else there;
 *   human-readable progress goes to stderr.
 * - Errors are thrown as `AppError`s; the CLI prints `error [CODE]: message` (or `{"ok":false,"error":{…}}` with
 *   `--json`) and exits 1. Usage mistakes exit 2. A failed verification exits 3.
 * - Nothing secret (key bytes, passphrases, plaintext, tokens) is ever printed.
 */

export interface CliIo {
  /** Machine or human output (stdout). */
  out(text: string): void;
  /** Progress and diagnostics (stderr). */
  err(text: string): void;
  readonly json: boolean;
  readonly isTty: boolean;
  /** Environment variables (a copy; never log them). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

export interface ParsedArgs {
  /** Positional arguments after the command words. */
  readonly positionals: readonly string[];
  /** `--flag value` / `--flag=value` → string; bare `--flag` → true. Repeated flags keep the last value, see `all`. */
  readonly flags: Readonly<Record<string, string | true>>;
  /** Every value of a repeated flag, in order. */
  readonly all: Readonly<Record<string, readonly (string | true)[]>>;
}

export interface CliCommand {
  /** The command words, e.g. ['keys', 'new'] or ['inspect']. */
  readonly words: readonly string[];
  readonly summary: string;
  /** One usage line (without the program name), e.g. 'inspect <file|dir> [--json]'. */
  readonly usage: string;
  /** Longer help: flags and examples. */
  readonly help?: string;
  /** Returns the process exit code. */
  run(args: ParsedArgs, io: CliIo): Promise<number>;
}

export const EXIT = Object.freeze({ OK: 0, ERROR: 1, USAGE: 2, VERIFY_FAILED: 3 } as const);
