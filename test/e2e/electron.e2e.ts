/**
 * Tier 2 (STYLE §7): the real desktop shell through Playwright's Electron launcher. Runs only where the Electron
 * binary is installed (`node node_modules/electron/install.js` where downloads work); elsewhere it is skipped, and
 * tier 1 (the same renderer through the web host) covers the renderer.
 */
import { _electron as electron, expect, test } from '@playwright/test';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './fixtures.ts';

function electronBinary(): string | undefined {
  try {
    const dir = createRequire(import.meta.url).resolve('electron/package.json').replace(/package\.json$/, '');
    const pathFile = join(dir, 'path.txt');
    if (!existsSync(pathFile)) return undefined;
    const bin = join(dir, 'dist', readFileSync(pathFile, 'utf8').trim());
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

const BINARY = electronBinary();

test.describe('Electron shell', () => {
  test.skip(BINARY === undefined, 'no Electron binary on this machine (installed with ELECTRON_SKIP_BINARY_DOWNLOAD=1)');

  test('the window shows the status screen; no Node in the page; navigation and new windows are blocked', async () => {
    const app = await electron.launch({
      executablePath: BINARY,
      args: [join(ROOT, 'dist/main/index.cjs'), '--no-sandbox'],
      env: { ...process.env, MODEL_VAULT_HOME: mkdtempSync(join(tmpdir(), 'mv-electron-')) },
    });
    try {
      const page = await app.firstWindow();
      await expect(page.getByTestId('status-app')).toContainText('Desktop (Electron)');
      const exposed = await page.evaluate(() => {
        const w = window as unknown as Record<string, unknown>;
        return [typeof w.require, typeof w.process, typeof w.ipcRenderer, typeof (w.api as Record<string, unknown> | undefined)?.invoke];
      });
      expect(exposed).toEqual(['undefined', 'undefined', 'undefined', 'undefined']);
      const before = page.url();
      await page.evaluate(() => {
        window.location.href = 'https://example.com/';
      });
      await page.waitForTimeout(500);
      expect(page.url()).toBe(before);
      await page.evaluate(() => window.open('https://example.com/'));
      await page.waitForTimeout(500);
      expect(app.windows().length).toBe(1);
    } finally {
      await app.close();
    }
  });
});
