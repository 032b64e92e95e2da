// Prints the README's CLI reference (generated from the commands), or with --write updates README.md in place.
import { readFileSync, writeFileSync } from 'node:fs';
import { cliReferenceMarkdown, replaceCliReference } from '../app/node/cli/docs.ts';

const README = new URL('../README.md', import.meta.url);
if (process.argv.includes('--write')) {
  writeFileSync(README, replaceCliReference(readFileSync(README, 'utf8')));
  process.stdout.write('README.md: CLI reference updated\n');
} else {
  process.stdout.write(`${cliReferenceMarkdown()}\n`);
}
