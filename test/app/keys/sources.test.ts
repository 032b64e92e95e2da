import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jkuToPath, resolveKey } from '../../../app/node/keys/sources.ts';
import { MemoryKeyStore } from '../../../app/keys/keystore.ts';
import { serializeJwk, serializeJwkSet } from '../../../app/keys/jwk.ts';
import { generateMasterKey, generateSigningKey, type MasterKey } from '../../../app/keys/key.ts';
import { isAppError } from '../../../app/errors.ts';

const meta = { createdAt: '', origin: 'generated' as const };
const code = (c: string) => (e: unknown) => isAppError(e) && e.code === c;

void test('priority: explicit > keychain > keystore file > env > reference env', async () => {
  const kid = 'shared-kid';
  const keys = Array.from({ length: 5 }, () => generateMasterKey('aes256gcm', { kid }));
  const chain = new MemoryKeyStore('chain');
  const file = new MemoryKeyStore('file');
  await chain.put({ key: keys[1]!, meta });
  await file.put({ key: keys[2]!, meta });
  const env = { MODEL_VAULT_KEYS: serializeJwk(keys[3]!, { includeSecret: true }), CRYPTOTENSOR_KEYS: serializeJwkSet([keys[4]!], { includeSecret: true }) };
  const all = { explicit: [keys[0]!], keychain: chain, keystoreFile: file, env };
  const order: string[] = [];
  const r0 = await resolveKey({ use: 'master', kid }, all);
  order.push(r0.source);
  assert.deepEqual((r0.key as MasterKey).key, keys[0]!.key);
  order.push((await resolveKey({ use: 'master', kid }, { ...all, explicit: [] })).source);
  order.push((await resolveKey({ use: 'master', kid }, { ...all, explicit: [], keychain: new MemoryKeyStore() })).source);
  order.push((await resolveKey({ use: 'master', kid }, { env })).source);
  order.push((await resolveKey({ use: 'master', kid }, { env: { CRYPTOTENSOR_KEYS: env.CRYPTOTENSOR_KEYS } })).source);
  assert.deepEqual(order, ['explicit', 'keychain', 'keystore-file', 'env', 'reference-env']);
});

void test('env forms never supply signing keys; verify requests get the public half', async () => {
  const s = generateSigningKey();
  const env = { CRYPTOTENSOR_KEYS: serializeJwk(s, { includeSecret: true }) };
  await assert.rejects(resolveKey({ use: 'signing' }, { env }), code('KEY_NOT_FOUND'));
  const v = await resolveKey({ use: 'verify' }, { env });
  assert.equal(v.key.kind === 'signing' && v.key.seed, undefined);
});

void test('reference env picks the first key of the kind; ours asks for a kid when ambiguous', async () => {
  const a = generateMasterKey();
  const b = generateMasterKey();
  const set = serializeJwkSet([a, b], { includeSecret: true });
  assert.equal((await resolveKey({ use: 'master' }, { env: { CRYPTOTENSOR_KEYS: set } })).key.kid, a.kid);
  await assert.rejects(resolveKey({ use: 'master' }, { env: { MODEL_VAULT_KEYS: set } }), code('VALIDATION'));
  assert.equal((await resolveKey({ use: 'master', kid: b.kid! }, { env: { MODEL_VAULT_KEYS: set } })).key.kid, b.kid);
});

void test('a file:// jku is read only when allow-listed (W-3); MODEL_VAULT_KEYS_FILE is read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mv-src-'));
  const m = generateMasterKey();
  const path = join(dir, 'k.jwk');
  writeFileSync(path, serializeJwk(m, { includeSecret: true }));
  const jku = `file://${path}`;
  const denied = await resolveKey({ use: 'master', jku }, {}).catch((e: unknown) => e);
  assert.ok(isAppError(denied) && denied.code === 'KEY_NOT_FOUND' && /allow-list/.test(denied.message));
  assert.equal((await resolveKey({ use: 'master', jku }, { jkuAllowList: [path] })).source, 'reference-file');
  assert.equal((await resolveKey({ use: 'master' }, { env: { MODEL_VAULT_KEYS_FILE: path } })).source, 'env');
  assert.equal(jkuToPath('file://~/k.jwk', '/home/u'), '/home/u/k.jwk');
  assert.equal(jkuToPath('file://rel/k.jwk'), undefined);
  assert.equal(jkuToPath('https://x/k.jwk'), undefined);
  await assert.rejects(resolveKey({ use: 'master' }, { env: { MODEL_VAULT_KEYS_FILE: dir } }), code('VALIDATION'));
});

void test('nothing found: KEY_NOT_FOUND naming the sources tried, without key bytes', async () => {
  const err = await resolveKey({ use: 'signing', kid: 'x' }, {}).catch((e: unknown) => e);
  assert.ok(isAppError(err) && err.code === 'KEY_NOT_FOUND');
  assert.match(err.message, /explicit, keychain, keystore-file, env, reference-env, reference-file/);
});
