/**
 * The app's broker session (app/node/services/broker-session.ts) against a real embedded broker on 127.0.0.1:
 * started on first use, the first producer enrolled with the session's own bootstrap secret, a subscriber enrolled
 * openly, signed calls through `withDevice`, the device key in the key store and not in the profile, and `close()`
 * stopping the broker.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../../app/node/config.ts';
import { BrokerSession } from '../../../app/node/services/broker-session.ts';

test('broker session: embedded broker on first use, enroll both roles, signed calls, close stops it', { timeout: 60_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'mv-session-'));
  const env = { MODEL_VAULT_HOME: home, MODEL_VAULT_STORE: 'file', MODEL_VAULT_PASSPHRASE: 'session test pw', MODEL_VAULT_SCRYPT_LOG_N: '10' };
  const session = new BrokerSession({ config: loadConfig(env), env });
  try {
    assert.equal(session.mode, 'embedded');
    assert.equal(await session.profile('subscriber'), undefined);
    const { url } = await session.endpoint();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await session.endpoint()).url, url, 'one broker per session');

    const producer = await session.enroll('producer', { name: 'Acme', label: 'test' });
    assert.equal(producer.admin, true);
    const subscriber = await session.enroll('subscriber', { name: 'Bob', label: 'laptop' });
    assert.equal(subscriber.role, 'subscriber');
    await assert.rejects(session.enroll('subscriber', { name: 'Bob', label: 'laptop' }), (e: unknown) => (e as { code?: string }).code === 'ALREADY_EXISTS');

    const text = readFileSync(session.profilePath('subscriber'), 'utf8');
    assert.doesNotMatch(text, /seed|secret/i);
    assert.equal((JSON.parse(text) as { keyStore: string }).keyStore, 'file');
    assert.match(readFileSync(join(home, 'keystore.json'), 'utf8'), new RegExp(subscriber.deviceKid));

    const synced = await session.withDevice('subscriber', (d) => d.client.sync());
    assert.deepEqual(synced.subscriptions, []);

    await session.close();
    await assert.rejects(fetch(`${url}/v1/info`), 'the embedded broker stopped');
    await assert.rejects(session.endpoint(), (e: unknown) => (e as { code?: string }).code === 'CANCELLED');
  } finally {
    await session.close();
    rmSync(home, { recursive: true, force: true });
  }
});

test('broker session: without a keychain or MODEL_VAULT_PASSPHRASE the key file is locked until unlocked once', { timeout: 60_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'mv-session-'));
  const env = { MODEL_VAULT_HOME: home, MODEL_VAULT_STORE: 'file', MODEL_VAULT_SCRYPT_LOG_N: '10' };
  const session = new BrokerSession({ config: loadConfig(env), env });
  try {
    assert.deepEqual(await session.keyStoreState('subscriber', async () => false), { kind: 'file', locked: true });
    await assert.rejects(session.enroll('subscriber', { name: 'Bob', label: 'laptop' }), (e: unknown) => (e as { code?: string }).code === 'KEYSTORE_LOCKED');
    assert.equal(await session.profile('subscriber'), undefined, 'a failed enrollment writes no profile');
    await session.unlockFileKeystore('a long enough passphrase');
    assert.deepEqual(await session.keyStoreState('subscriber', async () => false), { kind: 'file', locked: false });
    const p = await session.enroll('subscriber', { name: 'Bob', label: 'laptop' });
    assert.equal(p.keyStore, 'file');
    await session.withDevice('subscriber', (d) => d.client.sync());
    // A new session (the app restarted) must be unlocked again, and a wrong passphrase is refused.
    const again = new BrokerSession({ config: loadConfig(env), env });
    assert.deepEqual(await again.keyStoreState('subscriber', async () => true), { kind: 'file', locked: true });
    await assert.rejects(again.unlockFileKeystore('not the passphrase'), (e: unknown) => (e as { code?: string }).code === 'PASSPHRASE_WRONG');
    await again.close();
  } finally {
    await session.close();
    rmSync(home, { recursive: true, force: true });
  }
});
