/** Argument parsing for the CLI: `--flag value`, `--flag=value`, bare `--flag`, `--` ends flags. */
import type { ParsedArgs } from './types.ts';

/**
 * Flags that never take a value, across all commands (so `verify --header-only model.ct` keeps `model.ct`
 * positional). A command that adds a boolean flag adds its name here.
 */
const BOOLEAN_FLAGS: ReadonlySet<string> = new Set([
  'json', 'help', 'version', 'no-open', 'yes', 'dry-run', 'plaintext', 'force', 'insecure-no-verify', 'quiet',
  'header-only', 'ignore-policy', 'public', 'offline', 'verify', 'no-open-enrollment', 'resume', 'generate',
]);

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positionals: string[] = [];
  const flags: Record<string, string | true> = {};
  const all: Record<string, (string | true)[]> = {};
  const set = (name: string, value: string | true): void => {
    flags[name] = value;
    (all[name] ??= []).push(value);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--') && arg.length > 2) {
      const eq = arg.indexOf('=');
      if (eq > 0) {
        set(arg.slice(2, eq), arg.slice(eq + 1));
        continue;
      }
      const name = arg.slice(2);
      const next = argv[i + 1];
      if (!BOOLEAN_FLAGS.has(name) && next !== undefined && !next.startsWith('--')) {
        set(name, next);
        i++;
      } else {
        set(name, true);
      }
      continue;
    }
    if (arg === '-o' || arg === '-h' || arg === '-V') {
      if (arg === '-o') {
        const next = argv[i + 1];
        if (next !== undefined) {
          set('output', next);
          i++;
        } else set('output', true);
      } else set(arg === '-h' ? 'help' : 'version', true);
      continue;
    }
    positionals.push(arg);
  }
  return { positionals, flags, all };
}

/** A string flag's value, or undefined; `--flag` without a value is a usage error reported by the caller. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === 'string' ? v : undefined;
}
