/** Process entry of the CLI: real stdout/stderr, real environment. */
import { runCli } from './main.ts';
import type { CliIo } from './types.ts';

export async function main(argv: readonly string[]): Promise<number> {
  const io: CliIo = {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    json: argv.includes('--json'),
    isTty: process.stdout.isTTY,
    env: { ...process.env },
    cwd: process.cwd(),
  };
  return runCli(argv, io);
}
