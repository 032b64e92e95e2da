/**
 * The subscriber flow through the UI (issue 7 item 3), against real services: a key broker on 127.0.0.1 (SQLite)
 * that the web host uses as its remote broker (MODEL_VAULT_BROKER_URL), the real key store (the OS keychain under
 * D-Bus, as in CI; else the encrypted file keystore), and a model packaged by the real packager and published by a
 * producer in the test setup. Enroll → request access → the publisher approves → the licence appears → import the
 * publisher's folder with the licence (upload, personalized headers) → the verify report shows a valid signature
 * from a trusted signer, every tensor decrypted and the licence valid. Then, in a second step on the same host
 * (serial): mounting is offered only once the copy's verification passed in this session; the copy is mounted as a
 * FUSE folder and over loopback HTTP through the UI (a task with progress), the active mounts show how to connect,
 * and this test process reads a tensor through each exactly as a runtime would (index → shard → safetensors header
 * → the tensor's byte range) and compares it with the plaintext model the publisher packaged; unmounting through the
 * UI leaves no FUSE mount, no mount point and no token file. Screenshots at 1280×800 and 1024×700.
 *
 * The shared `host` fixture cannot point at this broker (it is started once per worker), so this file starts its
 * own web host the same way.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { access, mkdtemp, mkdir, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locator, Page } from '@playwright/test';
import { randomBytes } from '../../app/crypto/random.ts';
import { toB64url } from '../../app/crypto/encoding.ts';
import { PREFIX_BYTES, parseHeader, parseSafetensors, readHeaderLength } from '../../app/format/safetensors.ts';
import { kekFromBytes } from '../../app/node/broker/kek.ts';
import { startBroker, type RunningBroker } from '../../app/node/broker/start.ts';
import { publishFixture, type PublishedFixture } from '../main/services/subscriber-fixture.ts';
import { REPORTS, ROOT, expect, test } from './fixtures.ts';

const BOOTSTRAP = toB64url(randomBytes(24));

let work: string;
let broker: RunningBroker;
let model: PublishedFixture;
let child: ChildProcess | undefined;
let launchUrl: string;
let keychain = false;

async function startHost(env: Record<string, string>): Promise<string> {
  child = spawn(process.execPath, [join(ROOT, 'bin/model-vault.mjs'), 'ui', '--port', '0', '--no-open', '--json'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`web host did not start in time: ${stderr}`)), 60_000);
    child?.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child?.on('exit', (code) => reject(new Error(`web host exited with ${code}: ${stderr}`)));
  });
}

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  await mkdir(REPORTS, { recursive: true });
  work = await mkdtemp(join(tmpdir(), 'mv-e2e-subscriber-'));
  broker = await startBroker({ dbSpec: join(work, 'broker.sqlite'), kek: kekFromBytes(randomBytes(32)), bootstrapSecret: BOOTSTRAP, port: 0 });
  model = await publishFixture(work, broker.url, BOOTSTRAP, { modelId: 'acme-assistant-7b', mode: 'approval' });
  keychain = process.env.DBUS_SESSION_BUS_ADDRESS !== undefined;
  launchUrl = await startHost({
    MODEL_VAULT_HOME: join(work, 'app'),
    MODEL_VAULT_BROKER_URL: broker.url,
    // Used only where no keychain is reachable: the device key then goes into the encrypted file keystore.
    MODEL_VAULT_PASSPHRASE: 'e2e subscriber keystore passphrase',
    MODEL_VAULT_SCRYPT_LOG_N: '10',
    MODEL_VAULT_TRUST: join(work, 'trust.json'),
    // Mount points and the mount registry inside the test folder (mkdtemp made it private, as the runtime folder must be).
    MODEL_VAULT_RUNTIME_DIR: join(work, 'run'),
  });
});

/** FUSE mounts under the test folder, from the kernel's table. */
async function fuseMountsUnder(dir: string): Promise<string[]> {
  return (await readFile('/proc/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' '))
    .filter(([, where, type]) => where !== undefined && where.startsWith(dir) && (type ?? '').startsWith('fuse'))
    .map(([, where]) => where ?? '');
}

test.afterAll(async () => {
  // The web host unmounts what it mounted when it exits (SIGTERM); wait for that, then make sure nothing is left even
  // after a failure (a lazy unmount of anything still there) before the folder goes.
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child?.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
  for (const where of await fuseMountsUnder(work)) {
    await new Promise<void>((resolve) => execFile('fusermount', ['-uz', where], () => resolve()));
  }
  await broker.close();
  await rm(work, { recursive: true, force: true });
});

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** WCAG 2.1 A/AA violations found by axe-core in the page (run through the DevTools protocol: no CSP exception). */
async function axe(page: Page): Promise<{ id: string; targets: string[] }[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const w = window as unknown as { axe: { run: (ctx: Document, opts: unknown) => Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } };
    const r = await w.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, targets: v.nodes.flatMap((n) => n.target) }));
  });
}

async function shoot(page: Page, name: string, focus?: Locator): Promise<void> {
  for (const [width, height] of [[1280, 800], [1024, 700]] as const) {
    await page.setViewportSize({ width, height });
    if (focus === undefined) await page.locator('#main').evaluate((el) => el.scrollTo(0, 0));
    else {
      // Scroll the content pane (not the window) so the part shown starts at the top, as a user scrolling sees it.
      await focus.evaluate((el) => {
        const main = document.getElementById('main');
        if (main === null) return;
        main.scrollTo(0, el.getBoundingClientRect().top - main.getBoundingClientRect().top + main.scrollTop - 16);
        window.scrollTo(0, 0);
      });
    }
    await page.screenshot({ path: join(REPORTS, `subscriber-${name}-${width}x${height}.png`) });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

test('subscriber flow: enroll → licence → import with the licence → verify report', async ({ page }) => {
  test.setTimeout(180_000);
  await page.goto(launchUrl);
  await page.getByRole('link', { name: 'My models' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'My models' })).toBeVisible();

  // --- enroll
  await expect(page.getByRole('heading', { name: 'Enroll this device' })).toBeVisible();
  await shoot(page, 'enroll');
  expect(await axe(page)).toEqual([]);
  await page.getByLabel('Your name or organisation').fill('Northwind Research');
  await page.getByLabel('Device name').fill('GPU workstation 3');
  await page.getByRole('button', { name: 'Enroll this device' }).click();
  const device = page.getByRole('region', { name: 'This device' });
  await expect(device).toContainText('GPU workstation 3');
  await expect(device).toContainText(keychain ? 'OS keychain' : 'Encrypted key file');
  await expect(page.getByTestId('licences')).toContainText('No licences yet');

  // --- request access; the publisher approves; the licence appears after a sync
  await page.getByLabel('Model id').fill(model.modelId);
  await page.getByRole('button', { name: 'Request access' }).click();
  await expect(page.getByRole('region', { name: 'Request access to a model' })).toContainText('waiting for the publisher to approve');
  const row = page.getByTestId('licence-row').filter({ hasText: model.modelId });
  await expect(row).toContainText('Awaiting approval');
  const { subscriptions } = await model.producer.producerSubscriptions();
  const pending = subscriptions.find((s) => s.modelId === model.modelId && s.status === 'pending');
  expect(pending).toBeDefined();
  await model.producer.approve(pending?.subscriptionId ?? '');
  await page.getByRole('button', { name: 'Sync now' }).click();
  await expect(row.getByTestId('licence-verdict')).toHaveText('Valid');
  await expect(row).toContainText('including this one');
  await expect(page.getByRole('region', { name: 'Request access to a model' })).toContainText('licensed — import it below');
  await shoot(page, 'licences');

  // --- import the publisher's folder with this licence (the browser uploads it into the host's staging)
  await row.getByRole('button', { name: `Import ${model.modelId}` }).click();
  await expect(page.getByLabel('Licence to apply')).toHaveValue(pending?.subscriptionId ?? '');
  await page.getByTestId('folder-input').setInputFiles(model.packaged);
  await expect(page.getByTestId('picked-name')).toHaveText('acme-assistant-7b.cryptotensors');
  await shoot(page, 'import', page.getByTestId('import'));
  await page.getByRole('button', { name: 'Import', exact: true }).click();

  // --- the import verifies at once: signature, trusted signer, every tensor decrypted, licence valid, key released
  const report = page.getByTestId('verify-report');
  await expect(report).toBeVisible({ timeout: 60_000 });
  await expect(report.getByTestId('verify-verdict')).toHaveText('Verified');
  await expect(report).toContainText('Trusted signer');
  await expect(report).toContainText(/for broker:/);
  await expect(report).toContainText('Ed25519 signature over every header is valid.');
  await expect(report).toContainText('Every encrypted tensor was decrypted and authenticated.');
  await expect(report.getByTestId('signer-fingerprint')).toContainText('mvfp1:');
  await expect(report.getByTestId('verify-licence')).toHaveText('Valid');
  await expect(report.getByTestId('verify-key-release')).toHaveText('Released to this device');
  const library = page.getByTestId('model-row');
  await expect(library).toHaveCount(1);
  await expect(library).toContainText(`Licensed copy of ${model.modelId}`);
  await expect(library).toContainText('Verified');
  await shoot(page, 'library', page.getByTestId('library'));
  await shoot(page, 'verify-report', report);
  expect(await axe(page)).toEqual([]);

  // Keyboard only: Tab reaches the library's Verify button and Enter runs it again.
  await page.getByRole('button', { name: 'Remove acme-assistant-7b' }).focus();
  await page.keyboard.press('Shift+Tab');
  await expect(page.getByRole('button', { name: 'Verify acme-assistant-7b' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(report.getByTestId('verify-verdict')).toHaveText('Verified');

  // Nothing secret reached the page.
  const html = await page.content();
  for (const secret of [model.masterKey.key, model.signingSeed]) {
    for (const enc of ['hex', 'base64', 'base64url'] as const) expect(html.includes(Buffer.from(secret).toString(enc))).toBe(false);
  }
});

/** Reads one tensor the way a runtime does: the index names its shard, the shard's header gives its byte range. */
interface TensorSource {
  readonly index: () => Promise<Uint8Array>;
  /** `length` bytes of a shard from `offset`, and the shard's size. */
  readonly read: (shard: string, offset: number, length: number) => Promise<Uint8Array>;
  readonly size: (shard: string) => Promise<number>;
}

async function readTensor(src: TensorSource, name: string): Promise<{ shard: string; dtype: string; bytes: Uint8Array }> {
  const index = JSON.parse(Buffer.from(await src.index()).toString('utf8')) as { weight_map: Record<string, string> };
  const shard = index.weight_map[name];
  if (shard === undefined) throw new Error(`the index has no ${name}`);
  const size = await src.size(shard);
  const n = readHeaderLength(await src.read(shard, 0, PREFIX_BYTES), size);
  const header = parseHeader(await src.read(shard, PREFIX_BYTES, n), size);
  const t = header.byName.get(name);
  if (t === undefined) throw new Error(`${shard} has no ${name}`);
  return { shard, dtype: t.dtype, bytes: await src.read(shard, header.dataStart + t.begin, t.end - t.begin) };
}

/** Through a FUSE folder, with positioned reads (never a synchronous call: the mount's server must stay free). */
function folderSource(dir: string): TensorSource {
  return {
    index: async () => new Uint8Array(await readFile(join(dir, 'model.safetensors.index.json'))),
    size: async (shard) => {
      const fh = await open(join(dir, shard), 'r');
      try {
        return (await fh.stat()).size;
      } finally {
        await fh.close();
      }
    },
    read: async (shard, offset, length) => {
      const fh = await open(join(dir, shard), 'r');
      try {
        const out = new Uint8Array(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await fh.read(out, done, length - done, offset + done);
          if (bytesRead === 0) throw new Error(`short read of ${shard}`);
          done += bytesRead;
        }
        return out;
      } finally {
        await fh.close();
      }
    },
  };
}

/** Through the loopback HTTP mode, with the bearer token from its 0600 file and Range requests. */
function httpSource(url: string, token: string): TensorSource {
  const get = async (path: string, range?: string): Promise<Response> => {
    const res = await fetch(`${url}files/${path}`, { headers: { authorization: `Bearer ${token}`, ...(range === undefined ? {} : { range }) } });
    if (!res.ok) throw new Error(`GET ${path} ${range ?? ''}: ${res.status}`);
    return res;
  };
  return {
    index: async () => new Uint8Array(await (await get('model.safetensors.index.json')).arrayBuffer()),
    size: async (shard) => Number(/\/(\d+)$/.exec((await get(shard, 'bytes=0-0')).headers.get('content-range') ?? '')?.[1] ?? NaN),
    read: async (shard, offset, length) => {
      const res = await get(shard, `bytes=${offset}-${offset + length - 1}`);
      expect(res.status).toBe(206);
      return new Uint8Array(await res.arrayBuffer());
    },
  };
}

/** The plaintext the publisher packaged (publishFixture generated it in `plain-model`). */
function plaintextTensor(name: string): { dtype: string; bytes: Uint8Array } {
  const dir = join(work, 'plain-model');
  const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  const file = new Uint8Array(readFileSync(join(dir, index.weight_map[name] ?? '')));
  const h = parseSafetensors(file);
  const t = h.byName.get(name);
  if (t === undefined) throw new Error(`the plaintext model has no ${name}`);
  return { dtype: t.dtype, bytes: file.slice(h.dataStart + t.begin, h.dataStart + t.end) };
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

test('subscriber flow, continued: verify → mount (FUSE and HTTP) → a tensor read through each mount matches → unmount; a tampered copy is not offered', async ({ page }) => {
  test.setTimeout(180_000);
  await page.goto(launchUrl);
  await page.getByRole('link', { name: 'My models' }).click();
  const panel = page.getByRole('region', { name: 'Mount for a local runtime' });
  const mountButton = panel.getByRole('button', { name: 'Mount', exact: true });

  // --- mounting is offered only once this copy's verification passed in this session
  await expect(panel).toContainText('Verify a model in the list above: mounting is offered once it passes in this session.');
  await expect(mountButton).toBeDisabled();
  await expect(panel).toContainText('No model is mounted');
  await shoot(page, 'mount-verify-first', panel);
  await page.getByRole('button', { name: `Verify ${model.modelId}` }).click();
  await expect(page.getByTestId('verify-report').getByTestId('verify-verdict')).toHaveText('Verified');
  await expect(panel.getByTestId('mount-target')).toHaveText(model.modelId);
  await expect(mountButton).toBeEnabled();
  await expect(panel.getByLabel('Mode')).toHaveValue('fuse');

  // --- mount as a FUSE folder: a task with progress (recorded as the panel renders it), then the active mount
  await panel.evaluate((el) => {
    const seen: string[] = [];
    (window as unknown as { mountProgress: string[] }).mountProgress = seen;
    new MutationObserver(() => {
      if (el.querySelector('progress[aria-label="Mounting"]') !== null) seen.push(el.querySelector('.task-progress-head')?.textContent ?? '');
    }).observe(el, { subtree: true, childList: true, characterData: true });
  });
  await mountButton.click();
  const fuseRow = panel.getByRole('listitem').filter({ hasText: 'Folder (FUSE)' });
  await expect(fuseRow).toBeVisible({ timeout: 60_000 });
  expect(await page.evaluate(() => (window as unknown as { mountProgress: string[] }).mountProgress.length)).toBeGreaterThan(0);
  await expect(panel.getByRole('alert')).toHaveCount(0);
  await expect(fuseRow.locator('strong')).toHaveText(model.modelId);
  const folder = (await fuseRow.getByTestId('mount-folder').textContent())?.trim() ?? '';
  expect(folder.startsWith(join(work, 'run', 'mnt') + '/')).toBe(true);
  expect(await fuseMountsUnder(work)).toEqual([folder]);
  await expect(fuseRow.getByTestId('mount-connect')).toContainText(`export MODEL_DIR="${folder}"`);
  await expect(fuseRow).toContainText('Licence');
  await expect(fuseRow).toContainText(model.shards[0] ?? 'model-');
  await shoot(page, 'mount-active', panel);
  expect(await axe(page)).toEqual([]);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await fuseRow.getByRole('button', { name: `Copy commands for ${model.modelId} (Folder (FUSE))` }).click();
  await expect(fuseRow).toContainText('Copied to the clipboard');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toContain(`export MODEL_DIR="${folder}"`);

  // --- a runtime reads through the folder: every shard listed, and a tensor equal to the publisher's plaintext
  expect((await readdir(folder)).filter((f) => f.endsWith('.safetensors')).sort()).toEqual([...model.shards].sort());
  const NAME = 'model.layers.0.self_attn.q_proj.weight';
  const expected = plaintextTensor(NAME);
  expect(expected.bytes.length).toBeGreaterThan(0);
  const viaFuse = await readTensor(folderSource(folder), NAME);
  expect(viaFuse.dtype).toBe(expected.dtype);
  expect(viaFuse.bytes.length).toBe(expected.bytes.length);
  expect(sha256(viaFuse.bytes)).toBe(sha256(expected.bytes));
  expect(Buffer.from(viaFuse.bytes).equals(Buffer.from(expected.bytes))).toBe(true);
  // The whole shard, read through the mount, parses as plain safetensors, and its last tensor matches too.
  const shardBytes = new Uint8Array(await readFile(join(folder, viaFuse.shard)));
  const parsed = parseSafetensors(shardBytes);
  const last = parsed.tensors[parsed.tensors.length - 1];
  expect(last).toBeDefined();
  const lastExpected = plaintextTensor(last?.name ?? '');
  expect(sha256(shardBytes.subarray(parsed.dataStart + (last?.begin ?? 0), parsed.dataStart + (last?.end ?? 0)))).toBe(sha256(lastExpected.bytes));

  // --- the same copy over loopback HTTP: the UI names the token's file, never the token
  await panel.getByLabel('Mode').selectOption('http');
  await mountButton.click();
  const httpRow = panel.getByRole('listitem').filter({ hasText: 'Loopback HTTP' });
  await expect(httpRow).toBeVisible({ timeout: 60_000 });
  const url = (await httpRow.getByTestId('mount-url').textContent())?.trim() ?? '';
  const tokenFile = (await httpRow.getByTestId('mount-token-file').textContent())?.trim() ?? '';
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  expect(tokenFile.startsWith(join(work, 'run') + '/')).toBe(true);
  const token = (await readFile(tokenFile, 'utf8')).trim();
  expect(token.length).toBeGreaterThan(16);
  expect((await page.content()).includes(token)).toBe(false);
  await expect(httpRow.getByTestId('mount-connect')).toContainText(`$(cat '${tokenFile}')`);
  const viaHttp = await readTensor(httpSource(url, token), NAME);
  expect(sha256(viaHttp.bytes)).toBe(sha256(expected.bytes));
  expect((await fetch(`${url}files/${viaHttp.shard}`)).status).toBe(401);
  await shoot(page, 'mounts-both', httpRow);

  // --- unmount both through the UI: no FUSE mount, mount point or token file is left, the server is gone
  await fuseRow.getByRole('button', { name: `Unmount ${model.modelId} (Folder (FUSE))` }).click();
  await expect(fuseRow).toHaveCount(0);
  expect(await fuseMountsUnder(work)).toEqual([]);
  await expect(access(folder)).rejects.toThrow();
  await httpRow.getByRole('button', { name: `Unmount ${model.modelId} (Loopback HTTP)` }).click();
  await expect(panel).toContainText('No model is mounted');
  await expect(access(tokenFile)).rejects.toThrow();
  await expect(fetch(url)).rejects.toThrow();
  expect(await readdir(join(work, 'run', 'mnt'))).toEqual([]);
  expect((await readdir(join(work, 'run', 'mounts'))).filter((f) => !f.startsWith('.'))).toEqual([]);

  // --- a copy that no longer passes verification is not offered for mounting: one ciphertext byte flipped on disk
  // (headers, signature and manifest untouched, so only the full verification, which decrypts every tensor, sees it)
  const copy = (await panel.getByTestId('mount-target-path').textContent())?.trim() ?? '';
  const shardPath = join(copy, model.shards[0] ?? '');
  const shard = new Uint8Array(await readFile(shardPath));
  const at = PREFIX_BYTES + readHeaderLength(shard, shard.length) + 17;
  shard[at] = (shard[at] ?? 0) ^ 0x01;
  await writeFile(shardPath, shard);
  await page.getByRole('button', { name: `Verify ${model.modelId}` }).click();
  await expect(page.getByTestId('verify-report').getByTestId('verify-verdict')).toHaveText('Verification failed');
  await expect(panel.getByRole('alert')).toContainText(`${model.modelId} did not pass verification in this session, so it cannot be mounted.`);
  await expect(mountButton).toBeDisabled();
  await shoot(page, 'mount-refused', panel);
  expect(await axe(page)).toEqual([]);
});
