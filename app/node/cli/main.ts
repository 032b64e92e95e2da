/**
 * `model-vault`: the command-line interface. Gathers the commands of every domain, parses arguments, prints help,
 * and turns errors into exit codes and safe messages (never secrets).
 */
import { isAppError, toErrorInfo } from '../../errors.ts';
import { PROGRAM } from './usage.ts';
import { APP_NAME, APP_VERSION } from '../../version.ts';
import { parseArgs } from './args.ts';
import { ALL_COMMANDS } from './commands.ts';
import { type CliCommand, type CliIo, EXIT } from './types.ts';


function findCommand(words: readonly string[]): { command: CliCommand; rest: string[] } | undefined {
  let best: CliCommand | undefined;
  for (const c of ALL_COMMANDS) {
    if (c.words.length <= words.length && c.words.every((w, i) => words[i] === w) && (best === undefined || c.words.length > best.words.length)) best = c;
  }
  return best === undefined ? undefined : { command: best, rest: words.slice(best.words.length) };
}

export function generalHelp(): string {
  const lines = ALL_COMMANDS.flatMap((c) => [`  ${PROGRAM} ${c.usage}`, `      ${c.summary}`]);
  return [
    `${APP_NAME} ${APP_VERSION}: encrypted, signed distribution of confidential model weights.`,
    '',
    'Usage:',
    ...lines,
    '',
    'Global flags:',
    '  --json       print exactly one JSON document on stdout (progress goes to stderr)',
    '  --help, -h   help for a command, e.g. `model-vault ui --help`',
    '  --version    print the version',
    '',
    'Exit codes: 0 ok, 1 error, 2 usage error, 3 verification failed.',
  ].join('\n');
}

function commandHelp(c: CliCommand): string {
  return [`Usage: ${PROGRAM} ${c.usage}`, '', c.summary, ...(c.help === undefined ? [] : ['', c.help])].join('\n');
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv);
  if (args.flags.version === true && args.positionals.length === 0) {
    io.out(io.json ? JSON.stringify({ name: APP_NAME, version: APP_VERSION }) : `${PROGRAM} ${APP_VERSION}`);
    return EXIT.OK;
  }
  const found = findCommand(args.positionals);
  if (found === undefined) {
    if (args.positionals.length === 0) {
      io.out(generalHelp());
      return args.flags.help === true ? EXIT.OK : EXIT.USAGE;
    }
    const message = `unknown command '${args.positionals.join(' ')}': run \`${PROGRAM} --help\` for the list`;
    if (io.json) io.out(JSON.stringify({ ok: false, error: { code: 'VALIDATION', message } }));
    else io.err(`error: ${message}`);
    return EXIT.USAGE;
  }
  if (args.flags.help === true) {
    io.out(commandHelp(found.command));
    return EXIT.OK;
  }
  try {
    return await found.command.run({ ...args, positionals: found.rest }, io);
  } catch (e) {
    const info = toErrorInfo(e);
    if (!isAppError(e) && e instanceof Error && io.env.MODEL_VAULT_DEBUG === '1') io.err(e.stack ?? e.message);
    if (io.json) io.out(JSON.stringify({ ok: false, error: info }));
    else io.err(`error [${info.code}]: ${info.message}`);
    return isAppError(e) && e.code === 'VALIDATION' && e.message.startsWith('usage:') ? EXIT.USAGE : EXIT.ERROR;
  }
}
