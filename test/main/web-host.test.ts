import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServiceRouter } from '../../app/node/services/index.ts';
import { loadConfig } from '../../app/node/config.ts';
import { CONTENT_SECURITY_POLICY, TOKEN_HEADER, type WebHost, startWebHost } from '../../app/node/web/host.ts';
import { createRouter } from '../../app/node/router.ts';
import { createHandlers } from '../../app/node/services/index.ts';

let host: WebHost;
let rendererDir: string;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: host.port, path, method: init.method ?? 'GET', headers: { host: `127.0.0.1:${host.port}`, ...init.headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

const rpc = (channel: string, headers: Record<string, string>, body = '{}') => call(`/rpc/${channel}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

before(async () => {
  rendererDir = await mkdtemp(join(tmpdir(), 'mv-renderer-'));
  await mkdir(join(rendererDir, 'assets'));
  await writeFile(join(rendererDir, 'index.html'), '<!doctype html><title>t</title>');
  await writeFile(join(rendererDir, 'assets', 'a.js'), 'console.log(1)');
  await writeFile(join(rendererDir, '..', 'outside-secret.txt'), 'nope');
  const router = createServiceRouter({
    config: loadConfig({ MODEL_VAULT_HOME: rendererDir }),
    host: 'web',
    probeKeychain: async () => ({ available: true, backend: 'test' }),
  });
  host = await startWebHost({ router, rendererDir, port: 0 });
});

after(async () => {
  await host.close();
});

test('prints a launch URL on 127.0.0.1 with a 256-bit token in the fragment', () => {
  assert.match(host.launchUrl, /^http:\/\/127\.0\.0\.1:\d+\/#token=[0-9a-f]{64}$/);
});

test('serves the renderer with a strict CSP and security headers', async () => {
  const r = await call('/');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
  assert.match(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  assert.equal(r.headers['referrer-policy'], 'no-referrer');
  assert.equal((await call('/assets/a.js')).status, 200);
});

test('malformed percent-encoding is a 400, not a crash', async () => {
  assert.equal((await call('/%E0%A4%A')).status, 400);
  assert.equal((await rpc('app%3Astatus%', { [TOKEN_HEADER]: host.token })).status, 400);
});

test('refuses path traversal out of the renderer folder', async () => {
  for (const p of ['/../outside-secret.txt', '/%2e%2e/outside-secret.txt', '/assets/..%2f..%2foutside-secret.txt']) {
    const r = await call(p);
    assert.notEqual(r.status, 200, p);
    assert.ok(!r.body.includes('nope'), p);
  }
});

test('an RPC without the token gets 401, with a wrong token too', async () => {
  const none = await rpc('app:status', {});
  assert.equal(none.status, 401);
  assert.equal((JSON.parse(none.body) as { error: { code: string } }).error.code, 'AUTH_FAILED');
  assert.equal((await rpc('app:status', { [TOKEN_HEADER]: 'f'.repeat(64) })).status, 401);
  assert.equal((await rpc('app:status', { [TOKEN_HEADER]: host.token.slice(0, 63) })).status, 401);
  assert.equal((await call('/events')).status, 401);
});

test('a request with a foreign Origin or cross-site fetch metadata is refused even with the token', async () => {
  const auth = { [TOKEN_HEADER]: host.token };
  assert.equal((await rpc('app:status', { ...auth, origin: 'http://evil.example' })).status, 403);
  assert.equal((await rpc('app:status', { ...auth, origin: 'http://127.0.0.1:1' })).status, 403);
  assert.equal((await rpc('app:status', { ...auth, 'sec-fetch-site': 'cross-site' })).status, 403);
  assert.equal((await rpc('app:status', { ...auth, origin: `http://127.0.0.1:${host.port}` })).status, 200);
});

test('a foreign Host header (DNS rebinding) is refused', async () => {
  const r = await call('/', { headers: { host: `evil.example:${host.port}` } });
  assert.equal(r.status, 421);
});

test('a valid RPC returns the real status; bad bodies are typed errors', async () => {
  const auth = { [TOKEN_HEADER]: host.token };
  const ok = await rpc('app:status', auth);
  assert.equal(ok.status, 200);
  const parsed = JSON.parse(ok.body) as { ok: boolean; value: { name: string; host: string; dataDir: string } };
  assert.equal(parsed.ok, true);
  assert.equal(parsed.value.name, 'Model Vault');
  assert.equal(parsed.value.host, 'web');
  assert.equal(parsed.value.dataDir, rendererDir);
  assert.equal(ok.headers['cache-control'], 'no-store');
  assert.equal((await rpc('app:status', auth, '{not json')).status, 400);
  assert.equal((await call('/rpc/app:status', { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: '{}' })).status, 415);
  assert.equal((await call('/rpc/app:status', { headers: auth })).status, 405);
  const unknown = JSON.parse((await rpc('nope:nope', auth)).body) as { ok: boolean; error: { code: string } };
  assert.deepEqual([unknown.ok, unknown.error.code], [false, 'VALIDATION']);
  assert.equal((await rpc('app:status', auth, JSON.stringify({ pad: 'x'.repeat(1024 * 1024 + 10) }))).status, 413);
});

test('progress events reach the event stream', async () => {
  const router = createRouter({
    ...createHandlers({ config: loadConfig({ MODEL_VAULT_HOME: rendererDir }), host: 'web', probeKeychain: async () => ({ available: true, backend: 'test' }) }),
    'app:status': async (_req, ctx) => {
      ctx.progress({ phase: 'working', done: 3, total: 4, message: 'three of four' });
      return { name: 'x', version: '0', dataDir: '', keychain: { available: true, backend: 't' }, broker: { mode: 'embedded', location: '' }, host: 'web', platform: '', runtime: '' };
    },
  });
  const h = await startWebHost({ router, rendererDir, port: 0 });
  let pending: Promise<unknown> = Promise.resolve();
  try {
    const frames = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: h.port, path: '/events', headers: { host: `127.0.0.1:${h.port}`, [TOKEN_HEADER]: h.token } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
          if (text.includes(': connected')) {
            pending = fetch(`${h.url}rpc/app:status`, { method: 'POST', headers: { 'content-type': 'application/json', [TOKEN_HEADER]: h.token }, body: '{}' }).then((r) => r.json());
          }
          if (text.includes('three of four')) {
            resolve(text);
            req.destroy();
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(((await pending) as { ok: boolean }).ok, true);
    assert.match(frames, /event: task:progress\ndata: \{.*"phase":"working".*"done":3.*\}/);
  } finally {
    await h.close();
  }
});
