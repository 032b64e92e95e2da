/**
 * Starts the real web host (`model-vault ui --port 0 --no-open --json`) in a child process, with a throwaway data
 * directory, and hands its launch URL (carrying the per-launch token) to the tests.
 */
import { test as base } from '@playwright/test';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const REPORTS = join(ROOT, 'reports');

export interface Host {
  readonly launchUrl: string;
  readonly base: string;
  readonly token: string;
  readonly dataDir: string;
}

async function startHost(): Promise<{ host: Host; child: ChildProcess }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mv-e2e-'));
  const child = spawn(process.execPath, [join(ROOT, 'bin/model-vault.mjs'), 'ui', '--port', '0', '--no-open', '--json'], {
    env: { ...process.env, MODEL_VAULT_HOME: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const launchUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`web host did not start in time: ${stderr}`)), 60_000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child.on('exit', (code) => reject(new Error(`web host exited with ${code}: ${stderr}`)));
  });
  const [baseUrl, fragment] = launchUrl.split('#') as [string, string];
  return { host: { launchUrl, base: baseUrl, token: fragment.replace('token=', ''), dataDir }, child };
}

export const test = base.extend<object, { host: Host }>({
  host: [
    // Playwright reads the fixture dependencies from this destructuring pattern: it must be written out, even empty.
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      await mkdir(REPORTS, { recursive: true });
      const { host, child } = await startHost();
      await use(host);
      child.kill('SIGTERM');
    },
    { scope: 'worker' },
  ],
});

export { expect } from '@playwright/test';
