/** Runs `model-vault broker serve` in a child process for the durability tests (independent of the dispatcher). */
import { parseArgs } from '../../../app/node/cli/args.ts';
import { commands } from '../../../app/node/cli/broker.ts';

const serve = commands.find((c) => c.words.join(' ') === 'broker serve');
if (serve === undefined) throw new Error('no broker serve command');
const args = parseArgs(process.argv.slice(2));
const code = await serve.run(args, {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
  json: args.flags.json === true,
  isTty: false,
  env: { ...process.env },
  cwd: process.cwd(),
});
process.exit(code);
