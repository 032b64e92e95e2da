import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guardedDispatch, isTrustedSender, type SenderInfo } from '../../main/ipc/guard.ts';
import { createServiceRouter } from '../../app/node/services/index.ts';
import { loadConfig } from '../../app/node/config.ts';

const OWN = 'file:///opt/model-vault/resources/app.asar/dist/renderer/index.html';
const isOwn = (url: string): boolean => url === OWN;

function sender(url: string, topLevel = true): SenderInfo {
  const main = { url } as unknown as NonNullable<SenderInfo['senderFrame']>;
  const frame = topLevel ? main : ({ url } as unknown as NonNullable<SenderInfo['senderFrame']>);
  return { senderFrame: frame, sender: { mainFrame: main } };
}

test('only our own top-level frame on our own page is trusted', () => {
  assert.equal(isTrustedSender(sender(OWN), isOwn), true);
  assert.equal(isTrustedSender(sender(OWN, false), isOwn), false, 'a subframe');
  assert.equal(isTrustedSender(sender('https://evil.example/'), isOwn), false, 'another page');
  assert.equal(isTrustedSender({ senderFrame: null, sender: { mainFrame: sender(OWN).sender.mainFrame } }, isOwn), false, 'a destroyed frame');
});

test('guarded dispatch refuses untrusted senders and parses requests of trusted ones', async () => {
  const router = createServiceRouter({ config: loadConfig({ MODEL_VAULT_HOME: '/tmp/mv-ipc' }), host: 'electron', probeKeychain: async () => ({ available: false, backend: 'test', reason: 'test' }) });
  const dispatch = guardedDispatch(router, isOwn);
  const refused = await dispatch('app:status', sender('https://evil.example/'), {});
  assert.deepEqual(refused.ok ? null : refused.error.code, 'AUTH_FAILED');
  const ok = await dispatch('app:status', sender(OWN), {});
  assert.equal(ok.ok, true);
  const bad = await dispatch('app:status', sender(OWN), { smuggled: 1 });
  assert.equal(bad.ok ? null : bad.error.code, 'VALIDATION');
  const unknown = await dispatch('fs:read', sender(OWN), { path: '/etc/shadow' });
  assert.equal(unknown.ok ? null : unknown.error.code, 'VALIDATION');
});
