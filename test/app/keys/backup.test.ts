import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeBackup, exportBackup, exportPlaintext, importBackup, isBackupText } from '../../../app/keys/backup.ts';
import { generateMasterKey, generateSigningKey, fingerprintOf, type MasterKey, type SigningKey } from '../../../app/keys/key.ts';
import { deriveKek, newKek, openWithKek, parseEnvelope, sealWithKek } from '../../../app/keys/passphrase-envelope.ts';
import { canonicalJson } from '../../../app/keys/canonical-json.ts';
import { isAppError } from '../../../app/errors.ts';
import { assertNoKeyBytes } from './secret-scan.ts';

const FAST = { N: 2 ** 10, r: 8, p: 1 };
const PW = 'correct horse battery staple';

async function codeOf(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (isAppError(e)) return e.code;
    throw e;
  }
  return 'no error';
}

void test('backup round-trips keys, lists them publicly, and contains no key bytes in the clear', async () => {
  const keys = [generateMasterKey('aes256gcm'), generateMasterKey('chacha20poly1305'), generateSigningKey()];
  const text = await exportBackup(keys, PW, { params: FAST });
  assert.ok(isBackupText(text));
  assertNoKeyBytes(text, keys);
  assert.deepEqual(
    describeBackup(text).map((k) => k.fingerprint),
    keys.map(fingerprintOf),
  );
  const back = await importBackup(text, PW);
  assert.equal(back.length, 3);
  assert.deepEqual((back[0] as MasterKey).key, (keys[0] as MasterKey).key);
  assert.deepEqual((back[2] as SigningKey).seed, (keys[2] as SigningKey).seed);
});

void test('wrong passphrase and every tampered field give PASSPHRASE_WRONG or VALIDATION', async () => {
  const keys = [generateMasterKey()];
  const text = await exportBackup(keys, PW, { params: FAST });
  assert.equal(await codeOf(() => importBackup(text, PW + '!')), 'PASSPHRASE_WRONG');
  const doc = JSON.parse(text) as Record<string, unknown>;
  const mutations: ((d: Record<string, Record<string, unknown>>) => void)[] = [
    (d) => (d.public!.createdAt = '2000-01-01T00:00:00.000Z'),
    (d) => (d.kdf!.r = 9),
    (d) => (d.kdf!.salt = 'AAAAAAAAAAAAAAAAAAAAAA=='),
    (d) => (d.aead!.nonce = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
    (d) => {
      const ct = Buffer.from(d.ciphertext as unknown as string, 'base64');
      ct[3]! ^= 1;
      (d as Record<string, unknown>).ciphertext = ct.toString('base64');
    },
  ];
  for (const m of mutations) {
    const copy = structuredClone(doc) as Record<string, Record<string, unknown>>;
    m(copy);
    const code = await codeOf(() => importBackup(JSON.stringify(copy), PW));
    assert.ok(code === 'PASSPHRASE_WRONG' || code === 'VALIDATION', `${m.toString()} gave ${code}`);
  }
  // hostile KDF parameters are refused before any work
  const huge = structuredClone(doc) as Record<string, Record<string, unknown>>;
  huge.kdf!.N = 2 ** 30;
  assert.equal(await codeOf(() => importBackup(JSON.stringify(huge), PW)), 'VALIDATION');
  assert.equal(await codeOf(() => importBackup('{', PW)), 'VALIDATION');
  assert.equal(await codeOf(() => importBackup('{"format":"other"}', PW)), 'VALIDATION');
});

void test('short passphrases are refused for new backups; errors never echo the passphrase', async () => {
  const err = await exportBackup([generateMasterKey()], 'Zq7#x', { params: FAST }).catch((e: unknown) => e);
  assert.ok(isAppError(err) && err.code === 'VALIDATION');
  assert.ok(!err.message.includes('Zq7#x'));
});

void test('plaintext export needs explicit confirmation', () => {
  const k = generateMasterKey();
  assert.match(exportPlaintext([k], { iUnderstandThisIsPlaintext: true }), /"k":/);
  assert.throws(() => exportPlaintext([k], {} as never));
});

void test('envelope: one KEK seals many documents with distinct nonces; KEK re-derivation matches', async () => {
  const kek = await newKek(PW, FAST);
  const a = sealWithKek(kek, 'x', {}, new Uint8Array([1, 2, 3]));
  const b = sealWithKek(kek, 'x', {}, new Uint8Array([1, 2, 3]));
  assert.notEqual(a.aead.nonce, b.aead.nonce);
  const again = await deriveKek(PW, a.kdf);
  assert.deepEqual(openWithKek(again, parseEnvelope(JSON.stringify(b), 'x', 'doc'), 'doc'), new Uint8Array([1, 2, 3]));
});

void test('canonical JSON sorts keys, refuses floats', () => {
  assert.equal(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 'é', y: undefined } }), '{"a":[true,null,"x"],"b":1,"c":{"z":"é"}}');
  assert.throws(() => canonicalJson(1.5));
});

void test('an envelope whose public part is not canonical JSON (a float) is refused as VALIDATION', async () => {
  const text = await exportBackup([generateMasterKey()], PW, { params: FAST });
  const doc = JSON.parse(text) as { public: Record<string, unknown> };
  doc.public.extra = 1.5;
  assert.equal(await codeOf(() => importBackup(JSON.stringify(doc), PW)), 'VALIDATION');
});
