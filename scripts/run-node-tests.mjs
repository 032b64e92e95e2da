// Runs `node --import tsx --test` over every *.test.ts below the given folders (Node 20 has no type stripping, and
// with no file arguments node --test silently finds 0 tests, so we expand the list ourselves and fail on none).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const passThrough = [];
const dirs = [];
for (const a of args) (a.startsWith('--') ? passThrough : dirs).push(a);

function collect(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of entries.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
}
const files = [];
for (const d of dirs) collect(d, files);
if (files.length === 0) {
  process.stderr.write(`run-node-tests: no *.test.ts files under ${dirs.join(', ')}\n`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...passThrough, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
