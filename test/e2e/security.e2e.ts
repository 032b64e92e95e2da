import { expect, test } from './fixtures.ts';

test('no require, process, ipcRenderer or Node globals are reachable from the page', async ({ page, host }) => {
  await page.goto(host.launchUrl);
  await expect(page.getByTestId('status-app')).toBeVisible();
  const exposed = await page.evaluate(() => {
    const w = window as unknown as Record<string, unknown>;
    return {
      require: typeof w.require,
      process: typeof w.process,
      ipcRenderer: typeof w.ipcRenderer,
      Buffer: typeof w.Buffer,
      module: typeof w.module,
      electron: typeof w.electron,
    };
  });
  expect(exposed).toEqual({ require: 'undefined', process: 'undefined', ipcRenderer: 'undefined', Buffer: 'undefined', module: 'undefined', electron: 'undefined' });
});

test('an RPC without the token gets 401; a foreign Origin is refused', async ({ request, host }) => {
  const noToken = await request.post(`${host.base}rpc/app:status`, { data: {} });
  expect(noToken.status()).toBe(401);
  const foreign = await request.post(`${host.base}rpc/app:status`, { data: {}, headers: { 'x-model-vault-token': host.token, origin: 'https://evil.example' } });
  expect(foreign.status()).toBe(403);
  const ok = await request.post(`${host.base}rpc/app:status`, { data: {}, headers: { 'x-model-vault-token': host.token } });
  expect(ok.status()).toBe(200);
  expect(((await ok.json()) as { ok: boolean }).ok).toBe(true);
});

test('the CSP blocks inline scripts and off-origin connections', async ({ page, host }) => {
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  await page.goto(host.launchUrl);
  await expect(page.getByTestId('status-app')).toBeVisible();
  const result = await page.evaluate(async () => {
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true';
    document.body.appendChild(s);
    let fetched = 'blocked';
    try {
      await fetch('http://127.0.0.1:9/');
      fetched = 'allowed';
    } catch {
      fetched = 'blocked';
    }
    return { inline: (window as unknown as { __inlineRan?: boolean }).__inlineRan === true, fetched };
  });
  expect(result).toEqual({ inline: false, fetched: 'blocked' });
  expect(violations.length).toBeGreaterThan(0);
});

test('navigation to another origin is blocked by the page policy (no framing, no form posts)', async ({ request, host }) => {
  const res = await request.get(host.base);
  const csp = res.headers()['content-security-policy'] ?? '';
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("form-action 'none'");
  expect(res.headers()['x-frame-options']).toBe('DENY');
});
