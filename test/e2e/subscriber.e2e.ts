/**
 * The subscriber flow through the UI (issue 7 item 3), against real services: a key broker on 127.0.0.1 (SQLite)
 * that the web host uses as its remote broker (MODEL_VAULT_BROKER_URL), the real key store (the OS keychain under
 * D-Bus, as in CI; else the encrypted file keystore), and a model packaged by the real packager and published by a
 * producer in the test setup. Enroll → request access → the publisher approves → the licence appears → import the
 * publisher's folder with the licence (upload, personalized headers) → the verify report shows a valid signature
 * from a trusted signer, every tensor decrypted and the licence valid. Screenshots at 1280×800 and 1024×700.
 *
 * The shared `host` fixture cannot point at this broker (it is started once per worker), so this file starts its
 * own web host the same way.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locator, Page } from '@playwright/test';
import { randomBytes } from '../../app/crypto/random.ts';
import { toB64url } from '../../app/crypto/encoding.ts';
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
  });
});

test.afterAll(async () => {
  child?.kill('SIGTERM');
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
