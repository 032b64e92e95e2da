// The keytar adapter against a real Secret Service (gnome-keyring under dbus-run-session; see app/keys/README.md).
// Without DBUS_SESSION_BUS_ADDRESS the real-keychain tests skip; the unavailability test always runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { KeychainKeyStore, KEYCHAIN_SERVICE } from '../../../app/node/keys/keychain-keystore.ts';
import { generateMasterKey, generateSigningKey, type MasterKey, type SigningKey } from '../../../app/keys/key.ts';
import { isAppError } from '../../../app/errors.ts';
import { resolveKey } from '../../../app/node/keys/sources.ts';

const NO_DBUS = process.env.DBUS_SESSION_BUS_ADDRESS === undefined || process.env.DBUS_SESSION_BUS_ADDRESS === '';
const SKIP = NO_DBUS ? 'DBUS_SESSION_BUS_ADDRESS is unset: run under dbus-run-session with an unlocked gnome-keyring (see app/keys/README.md)' : false;
const PROBE = fileURLToPath(new URL('./fixtures/keychain-probe.ts', import.meta.url));

void test('real Secret Service: put, get, list, overwrite rules, delete', { skip: SKIP }, async () => {
  const store = await KeychainKeyStore.open();
  assert.equal(store.info.kind, 'keychain');
  assert.match(store.info.location, new RegExp(KEYCHAIN_SERVICE));
  const m = generateMasterKey('chacha20poly1305');
  const s = generateSigningKey();
  const meta = { createdAt: new Date().toISOString(), origin: 'generated' as const };
  await store.put({ key: m, meta });
  await store.put({ key: s, meta: { ...meta, label: 'release signing' } });
  try {
    const got = await store.get(m.kid!);
    assert.deepEqual((got?.key as MasterKey).key, m.key);
    assert.deepEqual(((await store.get(s.kid!))?.key as SigningKey).seed, s.seed);
    const list = await store.list();
    const kids = list.map((k) => k.kid);
    assert.ok(kids.includes(m.kid!) && kids.includes(s.kid!));
    assert.equal(list.find((k) => k.kid === s.kid)?.meta.label, 'release signing');
    assert.ok(!JSON.stringify(list).includes(Buffer.from(m.key).toString('base64')));
    await assert.rejects(store.put({ key: m, meta }), (e) => isAppError(e) && e.code === 'ALREADY_EXISTS');
    await store.put({ key: m, meta: { ...meta, label: 'replaced' } }, { overwrite: true });
    assert.equal((await store.get(m.kid!))?.meta.label, 'replaced');
    // credentials of other kinds under the same service are ignored by list
    const keytar = (await import('keytar')).default;
    await keytar.setPassword(KEYCHAIN_SERVICE, 'broker-token:x', 'not a key');
    try {
      assert.ok(!(await store.list()).some((k) => k.kid.includes('broker')));
    } finally {
      await keytar.deletePassword(KEYCHAIN_SERVICE, 'broker-token:x');
    }
    // the keychain is a key source
    const r = await resolveKey({ use: 'master', kid: m.kid! }, { keychain: store });
    assert.equal(r.source, 'keychain');
  } finally {
    assert.equal(await store.delete(m.kid!), true);
    assert.equal(await store.delete(s.kid!), true);
  }
  assert.equal(await store.get(m.kid!), undefined);
  assert.equal(await store.delete(m.kid!), false);
});

void test('real Secret Service: a second process sees the stored key', { skip: SKIP }, async () => {
  const store = await KeychainKeyStore.open();
  const m = generateMasterKey();
  await store.put({ key: m, meta: { createdAt: '', origin: 'generated' } });
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', `import('${fileURLToPath(new URL('../../../app/node/keys/keychain-keystore.ts', import.meta.url))}').then(async (m) => { const s = await m.KeychainKeyStore.open(); const k = await s.get(${JSON.stringify(m.kid)}); process.stdout.write(k ? k.key.kid : 'missing'); })`], { encoding: 'utf8', env: process.env });
    assert.equal(r.stdout, m.kid, r.stderr);
  } finally {
    await store.delete(m.kid!);
  }
});

void test('no Secret Service: KEYCHAIN_UNAVAILABLE with the reason and a pointer to the file keystore', () => {
  for (const env of [{ ...process.env, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/model-vault-test-bus' }, { ...process.env, DBUS_SESSION_BUS_ADDRESS: '', DISPLAY: '' }]) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', PROBE], { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { status: { available: boolean; reason?: string }; code: string; message: string };
    assert.equal(out.status.available, false);
    assert.equal(out.code, 'KEYCHAIN_UNAVAILABLE');
    assert.match(out.message, /--store file/);
    assert.match(out.message, /not available \(.+\)/); // the reason is included
    assert.match(out.status.reason ?? '', /file keystore/);
  }
});

void test('the unavailable keychain is skipped (with its reason) by key resolution', async () => {
  const m = generateMasterKey();
  const r = await resolveKey({ use: 'master' }, {
    keychain: () => Promise.reject(Object.assign(new Error('x'), { isAppError: true, code: 'KEYCHAIN_UNAVAILABLE', message: 'The OS keychain is not available (test).' })),
    env: { MODEL_VAULT_KEYS: JSON.stringify({ kty: 'oct', alg: 'aes256gcm', kid: m.kid, k: Buffer.from(m.key).toString('base64') }) },
  });
  assert.equal(r.source, 'env');
  assert.equal(r.skipped[0]?.source, 'keychain');
});
