/**
 * The Electron shell, tested without the Electron binary (STYLE §7: only what cannot exist here is left to tier 2):
 * - scripts/build-electron.mjs bundles main, preload and the AEAD worker; the bundled main has no `import.meta`
 *   left (esbuild's CommonJS output would make it empty and the pool could not find its worker);
 * - the bundled AEAD pool, run by plain Node from the bundle's folder, starts dist/main/aead-worker.js and seals
 *   exactly the bytes the source pool seals;
 * - the window and session hardening in main/ (context isolation, sandbox, no node integration, CSP, navigation,
 *   new windows and permissions denied, single instance, menu) is present in the source that is bundled.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { build } from 'esbuild';
import { AeadPool } from '../../../app/node/format/aead-pool.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);
let out: string;
let built: { main: string; worker: string; preload: string };

interface BuildScript {
  buildElectron(outDir: string): Promise<typeof built>;
  mainOptions(entry: string, outfile: string): Record<string, unknown>;
}
let script: BuildScript;

const JOB = { op: 'seal', alg: 'aes256gcm', firstIndex: 3, chunkSize: 4096 } as const;
const KEY = Array.from({ length: 32 }, (_, i) => (i * 7 + 1) & 255);
const IV = Array.from({ length: 12 }, (_, i) => (i * 13 + 5) & 255);
const DATA_LEN = 10_000;

const PROBE = `
import { AeadPool } from './app/node/format/aead-pool.ts';
import { createHash } from 'node:crypto';
void (async () => {
  const pool = new AeadPool(1);
  const data = new Uint8Array(${DATA_LEN}).map((_, i) => (i * 31) & 255);
  const r = await pool.run({ ...${JSON.stringify(JOB)}, key: new Uint8Array(${JSON.stringify(KEY)}), baseIv: new Uint8Array(${JSON.stringify(IV)}), data: data.buffer } as never);
  process.stdout.write(JSON.stringify({ data: createHash('sha256').update(r.data).digest('hex'), tags: createHash('sha256').update(r.tags ?? new Uint8Array(0)).digest('hex') }));
  await pool.close();
})();
`;

before(async () => {
  out = await mkdtemp(join(tmpdir(), 'mv-electron-build-'));
  script = (await import(join(ROOT, 'scripts/build-electron.mjs'))) as BuildScript;
  built = await script.buildElectron(out);
});

after(async () => {
  await rm(out, { recursive: true, force: true });
});

test('the build writes main, preload and the AEAD worker; the main bundle has no import.meta left', async () => {
  for (const f of [built.main, built.worker, built.preload]) assert.ok((await stat(f)).size > 0, f);
  assert.equal(built.worker, join(out, 'main', 'aead-worker.js'));
  const main = await readFile(built.main, 'utf8');
  assert.ok(!main.includes('import.meta'), 'import.meta would be empty in the CommonJS bundle');
  assert.match(main, /app\.asar\.unpacked/, 'the pool resolves its worker outside the asar archive');
  assert.deepEqual(JSON.parse(await readFile(join(out, 'main', 'package.json'), 'utf8')), { type: 'module' });
  const preload = await readFile(built.preload, 'utf8');
  assert.match(preload, /contextIsolated/);
});

test('the bundled pool finds dist/main/aead-worker.js with plain Node and seals the same bytes as the source pool', async () => {
  const probe = join(out, 'main', 'pool-probe.cjs');
  const opts = script.mainOptions('unused', probe) as Parameters<typeof build>[0] & { entryPoints?: unknown };
  delete opts.entryPoints;
  await build({ ...opts, stdin: { contents: PROBE, resolveDir: ROOT, loader: 'ts', sourcefile: 'pool-probe.ts' } });
  const { stdout } = await run(process.execPath, [probe], { cwd: tmpdir(), timeout: 60_000 });
  const bundled = JSON.parse(stdout) as { data: string; tags: string };

  const pool = new AeadPool(1);
  try {
    const data = new Uint8Array(DATA_LEN).map((_, i) => (i * 31) & 255);
    const r = await pool.run({ ...JOB, key: new Uint8Array(KEY), baseIv: new Uint8Array(IV), data: data.buffer });
    assert.equal(bundled.data, createHash('sha256').update(r.data).digest('hex'));
    assert.equal(bundled.tags, createHash('sha256').update(r.tags ?? new Uint8Array(0)).digest('hex'));
  } finally {
    await pool.close();
  }
});

test('the shell source keeps every hardening the issue asks for', async () => {
  const index = await readFile(join(ROOT, 'main/index.ts'), 'utf8');
  for (const needle of ['contextIsolation: true', 'sandbox: true', 'nodeIntegration: false', 'webviewTag: false', 'webSecurity: true', 'requestSingleInstanceLock', 'Menu.setApplicationMenu']) assert.ok(index.includes(needle), needle);
  const restrictions = await readFile(join(ROOT, 'main/security-restrictions.ts'), 'utf8');
  // every web contents and the default session get the policy tested below; the OS sandbox covers every renderer
  for (const needle of ['app.enableSandbox()', "'web-contents-created'", 'restrictContents(contents', 'restrictSession(session.defaultSession)']) assert.ok(restrictions.includes(needle), needle);
  const html = await readFile(join(ROOT, 'renderer/index.html'), 'utf8');
  assert.match(html, /default-src 'none'; script-src 'self'/);
});

test('the shell denies off-origin navigation, new windows, webviews, permissions and renderer network requests', async () => {
  const { restrictContents, restrictSession } = await import('../../../main/security-policy.ts');
  const own = 'file:///app/dist/renderer/index.html';
  const handlers = new Map<string, (...args: unknown[]) => void>();
  let openHandler: ((d: { url: string }) => { action: string }) | undefined;
  const contents = {
    on: (name: string, fn: (...args: unknown[]) => void) => handlers.set(name, fn),
    setWindowOpenHandler: (fn: typeof openHandler) => (openHandler = fn),
  };
  const opened: string[] = [];
  restrictContents(contents as never, (url) => url === own || url.startsWith(`${own}#`), (url) => opened.push(url));
  const fire = (name: string, url: string): boolean => {
    let prevented = false;
    const event = { url, preventDefault: () => (prevented = true) };
    handlers.get(name)?.(event, url);
    return prevented;
  };
  for (const name of ['will-navigate', 'will-redirect', 'will-frame-navigate']) {
    assert.equal(fire(name, 'https://evil.example/'), true, name);
    assert.equal(fire(name, 'file:///etc/passwd'), true, name);
    assert.equal(fire(name, `${own}#/security`), false, name);
  }
  assert.equal(fire('will-attach-webview', own), true);
  assert.deepEqual(openHandler?.({ url: 'https://evil.example/' }), { action: 'deny' });
  assert.deepEqual(openHandler?.({ url: 'https://github.com/model-vault' }), { action: 'deny' });
  assert.deepEqual(opened, ['https://github.com/model-vault'], 'only allow-listed https links go to the system browser');

  const answers: unknown[] = [];
  let filter: { urls: string[] } | undefined;
  let checker: (() => boolean) | undefined;
  let device: (() => boolean) | undefined;
  const session = {
    setPermissionRequestHandler: (fn: (c: unknown, p: string, cb: (ok: boolean) => void) => void) => fn(null, 'media', (ok) => answers.push(['request', ok])),
    setPermissionCheckHandler: (fn: () => boolean) => (checker = fn),
    setDevicePermissionHandler: (fn: () => boolean) => (device = fn),
    webRequest: {
      onBeforeRequest: (f: { urls: string[] }, fn: (d: unknown, cb: (r: unknown) => void) => void) => {
        filter = f;
        fn({ url: 'https://telemetry.example/' }, (r) => answers.push(['network', r]));
      },
    },
  };
  restrictSession(session as never);
  assert.deepEqual(answers, [['request', false], ['network', { cancel: true }]]);
  assert.equal(checker?.(), false);
  assert.equal(device?.(), false);
  assert.deepEqual(filter?.urls, ['*://*/*']);
});
