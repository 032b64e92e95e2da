// Bundles the Electron main process and the preload into single CommonJS files with esbuild. Native modules
// (keytar, better-sqlite3, fuse-native) and electron stay external.
import { build } from 'esbuild';

const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', sourcemap: false, logLevel: 'warning' };
await build({ ...common, entryPoints: ['main/index.ts'], outfile: 'dist/main/index.cjs', external: ['electron', 'keytar', 'better-sqlite3', 'fuse-native', 'pg-native'] });
await build({ ...common, entryPoints: ['preload/index.ts'], outfile: 'dist/preload/index.cjs', external: ['electron'] });
process.stdout.write('built dist/main/index.cjs and dist/preload/index.cjs\n');
