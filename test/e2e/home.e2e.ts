import { join } from 'node:path';
import { REPORTS, expect, test } from './fixtures.ts';

test('the home screen shows the real status from the services', async ({ page, host }) => {
  await page.goto(host.launchUrl);
  await expect(page.getByRole('heading', { level: 1, name: 'Overview' })).toBeVisible();
  const app = page.getByTestId('status-app');
  await expect(app).toContainText(/Model Vault \d+\.\d+\.\d+/);
  await expect(app).toContainText('Web host on 127.0.0.1');
  await expect(page.getByTestId('status-data')).toContainText(host.dataDir);
  await expect(page.getByTestId('status-broker')).toContainText('Embedded (local SQLite)');
  await expect(page.getByTestId('status-broker')).toContainText(join(host.dataDir, 'broker.sqlite'));
  const keychain = page.getByTestId('status-keychain');
  await expect(keychain).toContainText(/Available|Unavailable/);
  if (process.env.DBUS_SESSION_BUS_ADDRESS !== undefined && process.env.CI === 'true') await expect(keychain).toContainText('Available');
  // The token left the address bar once read.
  expect(page.url()).not.toContain('token=');
  await page.screenshot({ path: join(REPORTS, 'home-1280x800.png'), fullPage: true });
  await page.setViewportSize({ width: 1024, height: 700 });
  await page.screenshot({ path: join(REPORTS, 'home-1024x700.png'), fullPage: true });
});

test('a reload keeps the session; a page without the token cannot call the services', async ({ page, browser, host }) => {
  await page.goto(host.launchUrl);
  await expect(page.getByTestId('status-app')).toBeVisible();
  await page.reload();
  await expect(page.getByTestId('status-app')).toContainText('Model Vault');

  const stranger = await browser.newPage();
  await stranger.goto(host.base);
  await expect(stranger.getByRole('alert')).toContainText('No session token');
  await stranger.close();
});

test('keyboard only: skip link and the refresh button are reachable and labelled', async ({ page, host }) => {
  await page.goto(host.launchUrl);
  await expect(page.getByTestId('status-app')).toBeVisible();
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
  await page.keyboard.press('Enter');
  const refresh = page.getByRole('button', { name: /Check again/ });
  await refresh.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('status-app')).toBeVisible();
});
