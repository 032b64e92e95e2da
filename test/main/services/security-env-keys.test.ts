/**
 * The key inventory lists keys that only the environment supplies (app/keys/README.md "Key sources": MODEL_VAULT_KEYS,
 * MODEL_VAULT_KEYS_FILE, CRYPTOTENSOR_KEYS) with kid, algorithm, fingerprint and store "environment", never their
 * bytes; a key a store also holds is listed once, by its store; an unreadable variable is reported, not fatal.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { toB64std, toB64url, toHex } from '../../../app/crypto/encoding.ts';
import { serializeJwk, serializeJwkSet } from '../../../app/keys/jwk.ts';
import { fingerprintOf, generateMasterKey, generateSigningKey } from '../../../app/keys/key.ts';
import { loadConfig } from '../../../app/node/config.ts';
import { FileKeyStore } from '../../../app/node/keys/file-keystore.ts';
import type { HandlerContext } from '../../../app/node/router.ts';
import { createSecurityHandlers } from '../../../app/node/services/security.ts';

const ctx: HandlerContext = { taskId: '0123456789abcdef', signal: new AbortController().signal, progress: () => undefined };

test('key inventory: env-only keys are listed as "environment" (kid, alg, fingerprint; never bytes)', { timeout: 60_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'mv-env-keys-'));
  try {
    const stored = generateMasterKey('aes256gcm', { kid: 'stored-and-env' });
    const envMaster = generateMasterKey('aes256gcm', { kid: 'env-master' });
    const envSigner = generateSigningKey({ kid: 'env-signer' });
    const fileMaster = generateMasterKey('chacha20poly1305', { kid: 'env-file-master' });
    const store = await FileKeyStore.openOrCreate(join(home, 'keystore.json'), 'env keys test pw', { params: { N: 1024, r: 8, p: 1 } });
    await store.put({ key: stored, meta: { createdAt: '2026-01-01T00:00:00.000Z', origin: 'imported' } });
    const keysFile = join(home, 'keys.jwks');
    writeFileSync(keysFile, serializeJwk(fileMaster, { includeSecret: true }));

    const env = {
      MODEL_VAULT_HOME: home, MODEL_VAULT_STORE: 'file', MODEL_VAULT_PASSPHRASE: 'env keys test pw', MODEL_VAULT_SCRYPT_LOG_N: '10',
      MODEL_VAULT_KEYS: serializeJwkSet([envMaster, envSigner, stored], { includeSecret: true }),
      MODEL_VAULT_KEYS_FILE: keysFile,
      CRYPTOTENSOR_KEYS: '{"keys": [ not json',
    };
    const handlers = createSecurityHandlers({ config: loadConfig(env), host: 'web', env, probeKeychain: () => Promise.resolve({ available: false, backend: 'test', reason: 'not used' }) });
    const inv = await handlers['security:keys']({}, ctx);

    const fromEnv = inv.keys.filter((k) => k.store === 'environment');
    assert.deepEqual(fromEnv.map((k) => [k.kid, k.variable]).sort(), [['env-file-master', 'MODEL_VAULT_KEYS_FILE'], ['env-master', 'MODEL_VAULT_KEYS'], ['env-signer', 'MODEL_VAULT_KEYS']]);
    const master = fromEnv.find((k) => k.kid === 'env-master');
    assert.equal(master?.alg, 'aes256gcm');
    assert.equal(master?.kind, 'master');
    assert.equal(master?.fingerprint, fingerprintOf(envMaster));
    assert.equal(fromEnv.find((k) => k.kid === 'env-file-master')?.fingerprint, fingerprintOf(fileMaster));
    const signer = fromEnv.find((k) => k.kid === 'env-signer');
    assert.equal(signer?.kind, 'signing');
    assert.equal(signer?.verifyOnly, true, 'the environment never supplies a private signing key');
    assert.equal(signer?.fingerprint, fingerprintOf(envSigner));

    // The key the file keystore also holds is listed once, by the keystore.
    assert.deepEqual(inv.keys.filter((k) => k.kid === 'stored-and-env').map((k) => k.store), ['file']);

    // Every variable that is set is described; the unreadable one says why.
    assert.deepEqual(inv.environment.map((e) => [e.variable, e.keys]), [['MODEL_VAULT_KEYS', 3], ['MODEL_VAULT_KEYS_FILE', 1], ['CRYPTOTENSOR_KEYS', 0]]);
    assert.equal(inv.environment[1]?.location, keysFile);
    assert.match(inv.environment[2]?.problem ?? '', /CRYPTOTENSOR_KEYS/);

    // No key bytes, in any encoding, anywhere in the answer.
    const text = JSON.stringify(inv);
    const secrets = [envMaster.key, fileMaster.key, stored.key, envSigner.seed ?? new Uint8Array(32)];
    for (const s of secrets) for (const enc of [toB64url(s), toB64std(s), toHex(s)]) assert.ok(!text.includes(enc), 'key bytes leaked into the inventory');

    // Without any key variable the environment list is empty.
    const bare = { MODEL_VAULT_HOME: home, MODEL_VAULT_STORE: 'file', MODEL_VAULT_SCRYPT_LOG_N: '10' };
    const plain = await createSecurityHandlers({ config: loadConfig(bare), host: 'web', env: bare, probeKeychain: () => Promise.resolve({ available: false, backend: 'test' }) })['security:keys']({}, ctx);
    assert.deepEqual(plain.environment, []);
    assert.equal(plain.keys.filter((k) => k.store === 'environment').length, 0);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
