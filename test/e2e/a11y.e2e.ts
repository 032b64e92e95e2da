import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { expect, test } from './fixtures.ts';
import type { Page } from '@playwright/test';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** Runs axe-core in the page (through the DevTools protocol, so the page's CSP needs no exception). */
async function axe(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const w = window as unknown as { axe: { run: (ctx: Document, opts: unknown) => Promise<{ violations: AxeViolation[] }> } };
    const result = await w.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  });
}

test('overview: no WCAG 2.1 A/AA violations found by axe-core', async ({ page, host }) => {
  await page.goto(host.launchUrl);
  await expect(page.getByTestId('status-app')).toBeVisible();
  expect(await axe(page)).toEqual([]);
});

test('policy studio: no WCAG 2.1 A/AA violations outside the editor internals', async ({ page, host }) => {
  await page.goto(host.launchUrl);
  await page.getByRole('link', { name: 'Policy studio' }).click();
  await expect(page.getByTestId('decision')).toBeVisible();
  const violations = (await axe(page)).filter((v) => !v.nodes.every((n) => n.target.some((t) => t.includes('.monaco'))));
  expect(violations).toEqual([]);
});

test('every control has an accessible name', async ({ page, host }) => {
  await page.goto(host.launchUrl);
  await page.getByRole('link', { name: 'Policy studio' }).click();
  await expect(page.getByTestId('decision')).toBeVisible();
  for (const role of ['button', 'combobox', 'link', 'textbox'] as const) {
    for (const el of await page.getByRole(role).all()) {
      if (!(await el.isVisible())) continue;
      const name = await el.evaluate((e) => e.getAttribute('aria-label') ?? (e.id === '' ? '' : (document.querySelector(`label[for="${e.id}"]`)?.textContent ?? '')) ?? '');
      const text = (await el.textContent())?.trim() ?? '';
      expect(`${role}: ${name || text}`).not.toBe(`${role}: `);
    }
  }
});
