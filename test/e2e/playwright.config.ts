import { defineConfig } from '@playwright/test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

// Tier 1 e2e: the built renderer in Debian Chromium, through the web host, against the real services.
export default defineConfig({
  testDir: '.',
  testMatch: '**/*.e2e.ts',
  // MV_TEST_RESULTS (development only): a separate results folder for parallel runs on one checkout.
  outputDir: process.env.MV_TEST_RESULTS ?? `${ROOT}test-results/e2e`,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: true,
  retries: 0,
  reporter: [['list'], ['json', { outputFile: `${process.env.MV_TEST_RESULTS ?? `${ROOT}reports`}/e2e-results.json` }]],
  use: {
    browserName: 'chromium',
    viewport: { width: 1280, height: 800 },
    launchOptions: {
      executablePath: process.env.MV_CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    },
    trace: 'off',
  },
});
