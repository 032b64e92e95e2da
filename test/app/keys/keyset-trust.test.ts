import { test } from 'node:test';
import { codeOf } from './helpers.ts';
import assert from 'node:assert/strict';
import { activeKey, addKey, emptyKeyset, parseKeyset, promoteKey, readableKeys, retireKey, rotationPair } from '../../../app/keys/keyset.ts';
import { emptyTrustStore, evaluateSigner, forgetSigner, parseScope, parseTrustStore, serializeTrustStore, trustSigner, untrustSigner } from '../../../app/keys/trust.ts';
import { describeKey, generateMasterKey, generateSigningKey, publicHalf } from '../../../app/keys/key.ts';


void test('keyset: add → promote → retire, old keys readable until retired', () => {
  const k1 = describeKey(generateMasterKey());
  const k2 = describeKey(generateMasterKey());
  let ks = addKey(emptyKeyset('enc', 'acme'), k1);
  assert.equal(activeKey(ks), undefined);
  ks = promoteKey(ks, k1.kid!);
  assert.equal(activeKey(ks)?.kid, k1.kid);
  ks = addKey(ks, k2);
  assert.deepEqual(rotationPair(ks).from.kid, k1.kid);
  assert.deepEqual(rotationPair(ks).to.kid, k2.kid);
  ks = promoteKey(ks, k2.kid!);
  assert.equal(activeKey(ks)?.kid, k2.kid);
  assert.equal(ks.entries.find((e) => e.kid === k1.kid)?.state, 'previous');
  assert.equal(readableKeys(ks).length, 2);
  assert.equal(codeOf(() => retireKey(ks, k2.kid!)), 'VALIDATION');
  ks = retireKey(ks, k1.kid!);
  assert.deepEqual(
    readableKeys(ks).map((e) => e.kid),
    [k2.kid],
  );
  assert.deepEqual(parseKeyset(JSON.parse(JSON.stringify(ks))), ks);
});

void test('keyset: refuses duplicates, wrong kinds, alg changes, bad promotions', () => {
  const k1 = describeKey(generateMasterKey('aes256gcm'));
  let ks = promoteKey(addKey(emptyKeyset('enc', 'acme'), k1), k1.kid!);
  assert.equal(codeOf(() => addKey(ks, k1)), 'ALREADY_EXISTS');
  assert.equal(codeOf(() => addKey(ks, describeKey(generateMasterKey('aes128gcm')))), 'KEY_ALG_MISMATCH');
  assert.equal(codeOf(() => addKey(ks, describeKey(generateSigningKey()))), 'KEY_ALG_MISMATCH');
  assert.equal(codeOf(() => promoteKey(ks, k1.kid!)), 'VALIDATION');
  assert.equal(codeOf(() => promoteKey(ks, 'nope')), 'KEY_NOT_FOUND');
  assert.equal(codeOf(() => rotationPair(ks)), 'KEY_NOT_FOUND');
  const s = generateSigningKey();
  assert.equal(codeOf(() => addKey(emptyKeyset('sign', 'acme'), describeKey(publicHalf(s)))), 'KEY_INVALID');
  ks = addKey(ks, describeKey(generateMasterKey()));
  ks = addKey(ks, describeKey(generateMasterKey()));
  assert.equal(codeOf(() => rotationPair(ks)), 'KEY_NOT_FOUND');
  assert.equal(codeOf(() => parseKeyset({ purpose: 'enc', owner: 'x', entries: [{ ...ks.entries[0], state: 'active' }, { ...ks.entries[0], state: 'active' }] })), 'VALIDATION');
});

void test('trust store: trusted, known-but-untrusted, unknown; per producer and per model', () => {
  const a = generateSigningKey().publicKey;
  const b = generateSigningKey().publicKey;
  const c = generateSigningKey().publicKey;
  let t = emptyTrustStore();
  assert.equal(evaluateSigner(t, a).status, 'unknown');
  t = trustSigner(t, a, parseScope('producer:acme'), { kid: 'acme-sign' });
  t = trustSigner(t, b, parseScope('model:acme/llama'));
  t = trustSigner(t, c, parseScope('any'));
  assert.equal(evaluateSigner(t, a, { producer: 'acme' }).status, 'trusted');
  assert.equal(evaluateSigner(t, a, { producer: 'acme' }).kid, 'acme-sign');
  assert.equal(evaluateSigner(t, a, { producer: 'other' }).status, 'known-untrusted');
  assert.equal(evaluateSigner(t, a).status, 'known-untrusted');
  // the model is pinned to b: a (trusted for the producer) is not enough, c (trusted anywhere) neither
  assert.equal(evaluateSigner(t, b, { producer: 'acme', model: 'acme/llama' }).status, 'trusted');
  assert.equal(evaluateSigner(t, a, { producer: 'acme', model: 'acme/llama' }).status, 'known-untrusted');
  assert.equal(evaluateSigner(t, c, { model: 'acme/llama' }).status, 'known-untrusted');
  assert.equal(evaluateSigner(t, c, { producer: 'zeta' }).status, 'trusted');
  // the producer acme is pinned to a
  assert.equal(evaluateSigner(t, c, { producer: 'acme' }).status, 'known-untrusted');
  t = untrustSigner(t, a, parseScope('producer:acme'));
  assert.equal(evaluateSigner(t, a, { producer: 'acme' }).status, 'known-untrusted');
  const round = parseTrustStore(serializeTrustStore(t));
  assert.deepEqual(round, t);
  t = forgetSigner(t, evaluateSigner(t, a).fingerprint);
  assert.equal(evaluateSigner(t, a, { producer: 'acme' }).status, 'unknown');
});

void test('trust store: the fingerprint is recomputed from the public key, malformed files refused', () => {
  const a = generateSigningKey().publicKey;
  const t = trustSigner(emptyTrustStore(), a, { kind: 'any' });
  const doc = JSON.parse(serializeTrustStore(t)) as { entries: { fingerprint: string }[] };
  doc.entries[0]!.fingerprint = 'mvfp1:' + '0'.repeat(32);
  assert.equal(parseTrustStore(JSON.stringify(doc)).entries[0]!.fingerprint, t.entries[0]!.fingerprint);
  for (const bad of ['', '{}', '{"version":1,"entries":[{}]}', '{"version":1,"entries":[{"publicKey":"AA==","trusted":true,"updatedAt":"x","scope":{"kind":"any"}}]}']) {
    assert.equal(codeOf(() => parseTrustStore(bad)), 'VALIDATION');
  }
  assert.equal(codeOf(() => parseScope('vendor:x')), 'VALIDATION');
  assert.equal(codeOf(() => trustSigner(t, new Uint8Array(31), { kind: 'any' })), 'KEY_INVALID');
});
