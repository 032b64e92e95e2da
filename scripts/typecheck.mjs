// Type-checks every layer with its own tsconfig, so each layer sees only the globals it may use
// (app/: neither DOM nor Node; renderer/: DOM; app/node/ and main/: Node).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LAYERS = ['app', 'node', 'main', 'preload', 'web', 'test'];
const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
let failed = 0;
for (const layer of LAYERS) {
  const r = spawnSync(process.execPath, [tsc, '-p', `tsconfig.${layer}.json`], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    failed += 1;
    process.stderr.write(`typecheck: layer '${layer}' has errors (tsconfig.${layer}.json)\n`);
  }
}
process.exit(failed === 0 ? 0 : 1);
