/**
 * The producer flow through the web host against the real services (keychain when the run provides one, the
 * embedded broker on 127.0.0.1): drop a generated sharded model (File objects built in the page, a real drop event)
 * → scanned summary → pick the tensors to encrypt → edit the access policy in Monaco until the live decision flips
 * from Deny to Allow → package with progress → verify report → enroll and publish → the published model with its
 * audit trail. Screenshots of every step at 1280×800 and 1024×700 go to reports/producer-*.png.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { generateDemoModel } from '../../resources/demo-model/generate.ts';
import { REPORTS, expect, test } from './fixtures.ts';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

async function shoot(page: Page, name: string): Promise<void> {
  for (const [w, h] of [
    [1280, 800],
    [1024, 700],
  ] as const) {
    await page.setViewportSize({ width: w, height: h });
    await page.screenshot({ path: join(REPORTS, `producer-${name}-${w}x${h}.png`) });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

async function axeViolations(page: Page): Promise<{ id: string; targets: string[] }[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const w = window as unknown as { axe: { run: (ctx: Document, opts: unknown) => Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } };
    const r = await w.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, targets: v.nodes.flatMap((n) => n.target) })).filter((v) => !v.targets.every((t) => t.includes('.monaco')));
  });
}

test('producer: drop a sharded model, pick tensors, flip the policy to allow, package, verify and publish', async ({ page, host }) => {
  test.setTimeout(180_000);
  const dir = join(mkdtempSync(join(tmpdir(), 'mv-e2e-model-')), 'tiny-llama');
  const model = await generateDemoModel(dir, { shards: 2 });
  const files = readdirSync(dir).map((name) => ({ name, b64: readFileSync(join(dir, name)).toString('base64') }));

  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(host.launchUrl);
  await page.getByRole('link', { name: 'Publish' }).click();
  await expect(page.getByRole('heading', { name: 'Publish a model' })).toBeVisible();
  await expect(page.getByTestId('model-dropzone')).toBeVisible();
  await shoot(page, '1-drop');

  // Drop the model: File objects built in the page, delivered by a real drop event.
  await page.getByTestId('model-dropzone').evaluate((zone, list) => {
    const data = new DataTransfer();
    for (const f of list) data.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name));
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
  }, files);
  await expect(page.getByTestId('scan-summary')).toBeVisible();
  await expect(page.getByTestId('scan-shards')).toHaveText('2');
  await expect(page.getByTestId('scan-tensors')).toHaveText(String(model.tensors));
  await expect(page.getByTestId('scan-files')).toHaveText(String(model.files.length));
  await shoot(page, '2-summary');

  // Encryption: pick tensors by hand, untick the layer norms.
  await page.getByTestId('next-step').click();
  await page.getByLabel('Tensors I pick').check();
  const norms = page.getByRole('checkbox', { name: /^Encrypt .*norm/ });
  const normCount = await norms.count();
  expect(normCount).toBeGreaterThan(0);
  for (let i = 0; i < normCount; i++) await norms.nth(i).uncheck();
  await expect(page.getByTestId('selection-summary')).toContainText(`${model.tensors - normCount} of ${model.tensors} tensors encrypted`);
  await page.getByLabel('Algorithm').selectOption('chacha20poly1305');
  await shoot(page, '3-encrypt');

  // Policy: the analyst preset is denied until the allowed role is edited in Monaco.
  await page.getByTestId('next-step').click();
  const decision = page.getByTestId('producer-decision');
  await expect(decision).toHaveText(/Deny/);
  const line = page.locator('.view-line', { hasText: 'allowed_roles := {"admin"}' });
  await line.click();
  await page.keyboard.press('End');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  for (let i = 0; i < 'admin'.length; i++) await page.keyboard.press('Shift+ArrowLeft');
  await page.keyboard.type('analyst');
  await expect(decision).toHaveText(/Allow/);
  await shoot(page, '4-policy');

  // Package: progress, then the verify report of the result.
  await page.getByTestId('next-step').click();
  await expect(page.getByTestId('producer-signer-fingerprint')).toContainText('mvfp1:');
  const fingerprint = (await page.getByTestId('producer-signer-fingerprint').textContent()) ?? '';
  await page.getByTestId('package-button').click();
  await expect(page.getByTestId('verify-verdict')).toHaveText(/Verified/, { timeout: 60_000 });
  await expect(page.getByTestId('signer-fingerprint')).toHaveText(fingerprint);
  await expect(page.getByTestId('verify-report')).toContainText('Your signing key');
  await expect(page.getByTestId('verify-report')).toContainText('chacha20poly1305');
  await expect(page.getByTestId('verify-report')).toContainText(`${model.tensors - normCount} of ${model.tensors} encrypted`);
  await page.getByText('Signed access policy').click();
  await expect(page.getByLabel('Signed access policy, Rego')).toContainText('{"analyst"}');
  await shoot(page, '5-package');

  // Publish: enroll with the embedded broker, then publish with progress.
  await page.getByTestId('next-step').click();
  await page.getByLabel('Producer name (shown to subscribers)').fill('Acme Models');
  await page.getByRole('button', { name: 'Enroll as producer' }).click();
  await page.getByLabel('Model id').fill('acme.tiny-llama');
  await shoot(page, '6-publish-form');
  await page.getByTestId('publish-button').click();
  await expect(page.getByTestId('publish-done')).toContainText('acme.tiny-llama');
  await page.getByRole('button', { name: 'Refresh' }).click();
  const list = page.getByTestId('published-models');
  await expect(list).toContainText('acme.tiny-llama');
  await list.getByText(/Audit trail \([1-9]/).click();
  await expect(list).toContainText('publish');
  await shoot(page, '7-published');
  await page.getByRole('heading', { name: 'Your models' }).scrollIntoViewIfNeeded();
  await shoot(page, '8-models');

  expect(await axeViolations(page)).toEqual([]);
});

test('producer: the page is usable with the keyboard and passes axe-core on the drop step', async ({ page, host }) => {
  await page.goto(host.launchUrl);
  await page.getByRole('link', { name: 'Publish' }).click();
  await expect(page.getByTestId('model-dropzone')).toBeVisible();
  // The folder picker is reached with the keyboard.
  const choose = page.getByRole('button', { name: 'Choose folder…' });
  await choose.focus();
  await expect(choose).toBeFocused();
  expect(await axeViolations(page)).toEqual([]);
});
