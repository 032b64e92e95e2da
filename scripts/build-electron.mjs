// Bundles the Electron main process, the preload and the AEAD worker with esbuild:
//   dist/main/index.cjs        the main process (CommonJS; native modules and electron stay external)
//   dist/main/aead-worker.js   the AEAD worker thread (ESM; app/node/format/aead-worker.ts), started by the pool
//   dist/main/package.json     {"type":"module"}, so the worker is ESM wherever the folder is copied
//   dist/preload/index.cjs     the preload (CommonJS, sandboxed)
// `node scripts/build-electron.mjs [--out DIR]` (default dist). The bundled main is CommonJS, where esbuild has no
// `import.meta`: every `import.meta.url` becomes the bundle's own file URL, so modules that locate files next to
// themselves (the AEAD pool finds `./aead-worker.js`) find them next to the bundle. Inside a packaged app the worker
// is unpacked from the asar archive (electron-builder.yml asarUnpack), so the pool's URL points into
// `app.asar.unpacked`.
import { build } from 'esbuild';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const NATIVE = ['electron', 'keytar', 'better-sqlite3', 'fuse-native', 'pg-native'];
const POOL = /app[\\/]node[\\/]format[\\/]aead-pool\.ts$/;

const BANNER = [
  "const __mvSelfUrl = require('node:url').pathToFileURL(__filename).href;",
  // the worker is unpacked from the asar archive: worker threads cannot start a script inside it
  "const __mvUnpackedUrl = require('node:url').pathToFileURL(__filename.replace(/([\\\\/])app\\.asar([\\\\/])/, '$1app.asar.unpacked$2')).href;",
].join('\n');

/** The AEAD pool resolves its worker against the unpacked location; other modules against the bundle itself. */
const poolUrl = {
  name: 'aead-pool-url',
  setup(b) {
    b.onLoad({ filter: POOL }, async (args) => ({ contents: (await readFile(args.path, 'utf8')).replaceAll('import.meta.url', '__mvUnpackedUrl').replaceAll('import.meta.resolve(', NO_TSX), loader: 'ts' }));
  },
};

// The pool's from-source branch (tsx inside the worker) never runs in the bundle.
const NO_TSX = "((s) => { throw new Error('the bundled app has no tsx: ' + s); })(";

const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: false, logLevel: 'warning', absWorkingDir: ROOT };

/** Options of a CommonJS main-process bundle (also used by the tests to bundle probes the same way). */
export function mainOptions(entry, outfile) {
  return { ...common, format: 'cjs', entryPoints: [entry], outfile, external: NATIVE, banner: { js: BANNER }, define: { 'import.meta.url': '__mvSelfUrl' }, plugins: [poolUrl] };
}

export async function buildElectron(outDir = join(ROOT, 'dist')) {
  const main = join(outDir, 'main');
  await mkdir(main, { recursive: true });
  await build(mainOptions('main/index.ts', join(main, 'index.cjs')));
  await build({ ...common, format: 'esm', entryPoints: ['app/node/format/aead-worker.ts'], outfile: join(main, 'aead-worker.js'), external: NATIVE });
  await writeFile(join(main, 'package.json'), '{ "type": "module" }\n');
  await build({ ...common, format: 'cjs', entryPoints: ['preload/index.ts'], outfile: join(outDir, 'preload', 'index.cjs'), external: ['electron'] });
  return { main: join(main, 'index.cjs'), worker: join(main, 'aead-worker.js'), preload: join(outDir, 'preload', 'index.cjs') };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const i = process.argv.indexOf('--out');
  const out = i > 0 && process.argv[i + 1] !== undefined ? resolve(process.argv[i + 1]) : undefined;
  const built = await buildElectron(out);
  process.stdout.write(`built ${built.main}, ${built.worker} and ${built.preload}\n`);
}
