import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../app/errors.ts';
import type { ProgressEvent } from '../../app/ipc/contract.ts';
import { createRouter } from '../../app/node/router.ts';
import { createHandlers } from '../../app/node/services/index.ts';
import { loadConfig } from '../../app/node/config.ts';

const deps = {
  config: loadConfig({ MODEL_VAULT_HOME: '/tmp/mv-router-test' }),
  host: 'web' as const,
  probeKeychain: async () => ({ available: false, backend: 'test backend', reason: 'not probed in this test' }),
};

test('app:status answers through the router with real service data', async () => {
  const router = createRouter(createHandlers(deps));
  const result = await router.dispatch('app:status', {});
  assert.equal(result.ok, true);
  if (!result.ok) return;
  const status = result.value as { name: string; version: string; dataDir: string; broker: { mode: string; location: string }; keychain: { available: boolean } };
  assert.equal(status.name, 'Model Vault');
  assert.match(status.version, /^\d+\.\d+\.\d+$/);
  assert.equal(status.dataDir, '/tmp/mv-router-test');
  assert.deepEqual(status.broker, { mode: 'embedded', location: '/tmp/mv-router-test/broker.sqlite' });
  assert.equal(status.keychain.available, false);
});

test('unknown channels and malformed requests are refused with VALIDATION', async () => {
  const router = createRouter(createHandlers(deps));
  for (const channel of ['app:nope', '__proto__', 'constructor', 7, null]) {
    const r = await router.dispatch(channel, {});
    assert.deepEqual(r.ok ? null : r.error.code, 'VALIDATION');
  }
  const r = await router.dispatch('app:status', { extra: true });
  assert.equal(r.ok ? null : r.error.code, 'VALIDATION');
});

test('AppErrors keep their code and message; unexpected errors become INTERNAL without leaking', async () => {
  const secretish = 'SECRET-0123456789abcdef';
  const failing = createRouter({
    ...createHandlers(deps),
    'app:status': async () => {
      throw new AppError('KEY_NOT_FOUND', 'no key with that id: import it first');
    },
  });
  assert.deepEqual(await failing.dispatch('app:status', {}), { ok: false, error: { code: 'KEY_NOT_FOUND', message: 'no key with that id: import it first' } });

  const crashing = createRouter({
    ...createHandlers(deps),
    'app:status': async () => {
      throw new Error(`boom ${secretish}`);
    },
  });
  const r = await crashing.dispatch('app:status', {});
  assert.equal(r.ok, false);
  assert.equal(r.ok ? '' : r.error.code, 'INTERNAL');
  assert.ok(!JSON.stringify(r).includes(secretish));
});

test('progress events carry the task id and channel, and unsubscribe works', async () => {
  const router = createRouter({
    ...createHandlers(deps),
    'app:status': async (_req, ctx) => {
      ctx.progress({ phase: 'probe', done: 1, total: 2 });
      ctx.progress({ phase: 'probe', done: 2, total: 2 });
      return createHandlers(deps)['app:status']({}, ctx);
    },
  });
  const seen: ProgressEvent[] = [];
  const off = router.onProgress((e) => seen.push(e));
  await router.dispatch('app:status', {});
  off();
  await router.dispatch('app:status', {});
  assert.equal(seen.length, 2);
  assert.equal(seen[0]?.channel, 'app:status');
  assert.match(seen[0]?.taskId ?? '', /^[0-9a-f]{16}$/);
  assert.equal(seen[0]?.taskId, seen[1]?.taskId);
});

test('a router without a handler for a contract channel is a bug caught at construction', () => {
  assert.throws(() => createRouter({} as never), /no handler for contract channel/);
});

test('task:cancel is served by the router: an unknown or finished task id answers cancelled: false; bad ids are refused', async () => {
  const router = createRouter(createHandlers(deps));
  assert.deepEqual(await router.dispatch('task:cancel', { taskId: '0123456789abcdef' }), { ok: true, value: { cancelled: false } });
  for (const taskId of ['0123', 'ZZZZZZZZZZZZZZZZ', 7]) {
    const r = await router.dispatch('task:cancel', { taskId });
    assert.equal(r.ok ? null : r.error.code, 'VALIDATION');
  }
});
