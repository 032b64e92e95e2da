// `npm start`: launches the Electron shell on the built bundles, or explains how to get the Electron binary.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let binary;
try {
  const dir = require.resolve('electron/package.json').replace(/package\.json$/, '');
  const pathFile = `${dir}path.txt`;
  binary = existsSync(pathFile) ? `${dir}dist/${readFileSync(pathFile, 'utf8').trim()}` : undefined;
} catch {
  binary = undefined;
}
if (binary === undefined || !existsSync(binary)) {
  process.stderr.write(
    [
      'The Electron binary is not installed (it was skipped with ELECTRON_SKIP_BINARY_DOWNLOAD=1 or could not be downloaded).',
      'Where downloads from GitHub work, get it with:  node node_modules/electron/install.js   and run `npm start` again.',
      'Without a display or Electron binary, use the same interface in a browser:  npx model-vault ui',
      '',
    ].join('\n'),
  );
  process.exit(1);
}
const child = spawn(binary, ['dist/main/index.cjs'], { stdio: 'inherit' });
child.on('exit', (code) => process.exit(code ?? 1));
