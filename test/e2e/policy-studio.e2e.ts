import { join } from 'node:path';
import { REPORTS, expect, test } from './fixtures.ts';

test('policy studio: live evaluation flips from deny to allow as the policy is edited in Monaco', async ({ page, host }) => {
  await page.goto(host.launchUrl);
  await page.getByRole('link', { name: 'Policy studio' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Policy studio' })).toBeVisible();
  await page.getByLabel('Sample').selectOption('deny-reasons');
  await expect(page.locator('.monaco-editor .view-lines')).toContainText('allowed_roles');

  // An analyst in office hours on the office network: allowed.
  await page.getByLabel('Preset').selectOption('analyst');
  await expect(page.getByTestId('decision')).toHaveText('Allow');

  // An auditor is not among the allowed roles: denied, with the reason.
  await page.getByLabel('Preset').selectOption('auditor');
  await expect(page.getByTestId('decision')).toHaveText('Deny');
  await expect(page.getByTestId('deny-reasons')).toContainText('subscriber has no role allowed to use this model');
  await page.screenshot({ path: join(REPORTS, 'policy-studio-deny-1280x800.png'), fullPage: true });

  // Edit the policy in the editor: replace the role "admin" with "auditor".
  const adminToken = page.locator('.monaco-editor .view-line span', { hasText: /^"admin"$/ }).first();
  await adminToken.click();
  await page.keyboard.press('End');
  const line = page.locator('.monaco-editor .view-line', { hasText: 'allowed_roles :=' }).first();
  await expect(line).toBeVisible();
  await line.click();
  await page.keyboard.press('End');
  await page.keyboard.press('Backspace'); // the closing brace
  await page.keyboard.type(', "auditor"');
  await page.keyboard.type('}');
  await expect(page.locator('.monaco-editor .view-lines')).toContainText('"auditor"');
  await expect(page.getByTestId('decision')).toHaveText('Allow');
  await page.screenshot({ path: join(REPORTS, 'policy-studio-allow-1280x800.png'), fullPage: true });
});

test('policy studio: a syntax error is a marker at its row:col, and hostile input is a typed error', async ({ page, host }) => {
  await page.goto(`${host.launchUrl}`);
  await page.getByRole('link', { name: 'Policy studio' }).click();
  await page.getByLabel('Sample').selectOption('deny-reasons');
  await expect(page.getByTestId('decision')).toBeVisible();
  const pkgLine = page.locator('.monaco-editor .view-line', { hasText: 'package modelvault' }).first();
  await pkgLine.click();
  await page.keyboard.press('End');
  await page.keyboard.type(' !!');
  await expect(page.getByTestId('problems')).toContainText('policy 2:');
  await expect(page.getByTestId('problems')).toContainText('rego_parse_error');
  await expect(page.locator('.monaco-editor .squiggly-error').first()).toBeAttached();

  await page.getByLabel('Input document, JSON').fill('{"not": "the schema"');
  await expect(page.locator('.field-error')).toContainText('not valid JSON');
  // The policy's own error stays reported while the input is broken.
  await expect(page.getByTestId('problems')).toContainText('rego_parse_error');
  await expect(page.getByText(/1 problem/)).toBeVisible();
  await page.getByLabel('Input document, JSON').fill('{"action": "load"}');
  await expect(page.locator('.field-error')).toContainText('subscriber');
  await page.setViewportSize({ width: 1024, height: 700 });
  await page.screenshot({ path: join(REPORTS, 'policy-studio-error-1024x700.png'), fullPage: true });
});
