/**
 * One unlock per process: without a keychain, the encrypted file keystore unlocked in the security view
 * (`security:unlock`) is the one the broker session's device keys use (subscriber enrollment, signed calls), and the
 * subscriber view's unlock (`subscriber:unlock`) unlocks the security view's inventory. Real embedded broker on
 * 127.0.0.1; the passphrase never comes back in an answer.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../../app/node/config.ts';
import type { HandlerContext } from '../../../app/node/router.ts';
import { brokerSessionOf } from '../../../app/node/services/broker-session.ts';
import type { ServiceDeps } from '../../../app/node/services/index.ts';
import { createSecurityHandlers } from '../../../app/node/services/security.ts';
import { createSubscriberHandlers } from '../../../app/node/services/subscriber.ts';
import { codeOf } from './helpers.ts';

const PASSPHRASE = 'one unlock for the whole app';
const ctx: HandlerContext = { taskId: '0123456789abcdef', signal: new AbortController().signal, progress: () => undefined };

function services(home: string): { deps: ServiceDeps; security: ReturnType<typeof createSecurityHandlers>; subscriber: ReturnType<typeof createSubscriberHandlers> } {
  // No MODEL_VAULT_PASSPHRASE and no keychain: the key file must be unlocked by the user.
  const env = { MODEL_VAULT_HOME: home, MODEL_VAULT_STORE: 'file', MODEL_VAULT_SCRYPT_LOG_N: '10' };
  const deps: ServiceDeps = { config: loadConfig(env), host: 'web', env, probeKeychain: () => Promise.resolve({ available: false, backend: 'test', reason: 'no keychain in this test' }) };
  return { deps, security: createSecurityHandlers(deps), subscriber: createSubscriberHandlers(deps) };
}

test('one unlock: the security view unlocks the key file for the broker session, and the subscriber view for the inventory', { timeout: 90_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'mv-one-unlock-'));
  const first = services(home);
  const second = services(home);
  const answers: unknown[] = [];
  try {
    // Locked everywhere at first.
    assert.equal((await first.subscriber['subscriber:identity']({}, ctx)).keyStore.locked, true);
    assert.equal(await codeOf(first.subscriber['subscriber:enroll']({ name: 'Bob', label: 'laptop' }, ctx)), 'KEYSTORE_LOCKED');

    // Unlocked once, in the security view (this creates the key file) …
    answers.push(await first.security['security:unlock']({ passphrase: PASSPHRASE }, ctx));
    // … and the subscriber view no longer asks: it enrolls, with the device key in that same keystore.
    const identity = await first.subscriber['subscriber:identity']({}, ctx);
    assert.deepEqual(identity.keyStore, { kind: 'file', locked: false });
    const enrolled = await first.subscriber['subscriber:enroll']({ name: 'Bob', label: 'laptop' }, ctx);
    answers.push(enrolled);
    assert.equal(enrolled.enrolled?.keyStore, 'file');
    const licences = await first.subscriber['subscriber:licences']({}, ctx); // a signed call with the device key
    answers.push(licences);
    const inv = await first.security['security:keys']({}, ctx);
    answers.push(inv);
    assert.equal(inv.stores.find((s) => s.kind === 'file')?.locked, false);
    assert.ok(inv.keys.some((k) => k.store === 'file' && k.kid === enrolled.enrolled?.deviceKid), 'the inventory shows the device key the broker session stored');

    // Another process (the app restarted): the subscriber view's unlock unlocks the security view too.
    const before = await second.security['security:keys']({}, ctx);
    assert.equal(before.stores.find((s) => s.kind === 'file')?.locked, true);
    assert.equal(await codeOf(second.security['security:unlock']({ passphrase: 'not the passphrase' }, ctx)), 'PASSPHRASE_WRONG');
    assert.equal((await second.subscriber['subscriber:identity']({}, ctx)).keyStore.locked, true, 'a wrong passphrase unlocks nothing');
    answers.push(await second.subscriber['subscriber:unlock']({ passphrase: PASSPHRASE }, ctx));
    const after = await second.security['security:keys']({}, ctx);
    assert.equal(after.stores.find((s) => s.kind === 'file')?.locked, false);
    // Keys are written through the shared store (no second prompt): a new key lands in the unlocked file keystore.
    const created = await second.security['security:createKey']({ alg: 'aes256gcm', kid: 'one-unlock-key', store: 'file' }, ctx);
    assert.equal(created.store, 'file');

    const text = JSON.stringify(answers);
    assert.ok(!text.includes(PASSPHRASE), 'the passphrase never comes back');
  } finally {
    await brokerSessionOf(first.deps).close();
    await brokerSessionOf(second.deps).close();
    rmSync(home, { recursive: true, force: true });
  }
});
