import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  generateRecipientKeyPair,
  headerSha256,
  newBundleId,
  parseRotationBundle,
  serializeRotationBundle,
  signRotationBundle,
  unwrapKeyForRecipient,
  verifyRotationBundle,
  wrapKeyForRecipient,
  type RotationBundleBody,
} from '../../../app/keys/rotation-bundle.ts';
import { fingerprintOf, generateMasterKey, generateSigningKey } from '../../../app/keys/key.ts';
import { toB64std } from '../../../app/crypto/encoding.ts';
import { isAppError } from '../../../app/errors.ts';
import { assertNoKeyBytes } from './secret-scan.ts';

function setup() {
  const oldEnc = generateMasterKey();
  const newEnc = generateMasterKey();
  const oldSign = generateSigningKey();
  const newSign = generateSigningKey();
  const broker = generateRecipientKeyPair('broker-1');
  const bundleId = newBundleId();
  const body: RotationBundleBody = {
    format: 'model-vault/rotation-bundle',
    version: 1,
    bundleId,
    createdAt: '2026-11-21T20:00:00.000Z',
    producer: 'acme',
    enc: { oldKid: oldEnc.kid!, oldFingerprint: fingerprintOf(oldEnc), newKid: newEnc.kid!, newFingerprint: fingerprintOf(newEnc), alg: 'aes256gcm', wrapped: [wrapKeyForRecipient(newEnc, bundleId, { id: broker.id, publicKey: broker.publicKey })] },
    sign: { oldKid: oldSign.kid!, oldFingerprint: fingerprintOf(oldSign), newKid: newSign.kid!, newFingerprint: fingerprintOf(newSign), newPublicKey: toB64std(newSign.publicKey) },
    models: [{ path: 'llama/model-00001.safetensors', tensors: 3, oldHeaderSha256: headerSha256(new Uint8Array([1])), newHeaderSha256: headerSha256(new Uint8Array([2])) }],
    approval: { threshold: 2, total: 3 },
  };
  return { oldEnc, newEnc, oldSign, newSign, broker, body };
}

void test('a signed bundle verifies, carries no key bytes, and the broker recovers the new master key', () => {
  const { oldEnc, newEnc, oldSign, newSign, broker, body } = setup();
  const bundle = signRotationBundle(body, [oldSign, newSign]);
  const text = serializeRotationBundle(bundle);
  assertNoKeyBytes(text, [oldEnc, newEnc, oldSign, newSign]);
  const parsed = parseRotationBundle(text);
  const trustOld = (pk: Uint8Array): boolean => Buffer.from(pk).equals(Buffer.from(oldSign.publicKey));
  assert.deepEqual(verifyRotationBundle(parsed, trustOld).problems, []);
  const got = unwrapKeyForRecipient(parsed, broker);
  assert.deepEqual(got.key, newEnc.key);
  assert.equal(got.kid, newEnc.kid);
  const other = generateRecipientKeyPair('broker-1');
  assert.throws(() => unwrapKeyForRecipient(parsed, other), (e) => isAppError(e) && e.code === 'DECRYPT_FAILED');
});

void test('tampering with any field, missing trust, or a missing new-key signature is detected', () => {
  const { oldSign, newSign, broker, body } = setup();
  const trustOld = (pk: Uint8Array): boolean => Buffer.from(pk).equals(Buffer.from(oldSign.publicKey));
  const bundle = signRotationBundle(body, [oldSign, newSign]);
  const edits: ((b: Record<string, unknown>) => void)[] = [
    (b) => (b.producer = 'evil'),
    (b) => ((b.models as { path: string }[])[0]!.path = 'other.safetensors'),
    (b) => ((b.enc as { newKid: string }).newKid = 'mv-enc-x'),
    (b) => ((b.approval as { threshold: number }).threshold = 1),
    (b) => (b.createdAt = '2030-01-01T00:00:00.000Z'),
  ];
  for (const edit of edits) {
    const copy = structuredClone(bundle) as unknown as Record<string, unknown>;
    edit(copy);
    assert.equal(verifyRotationBundle(copy as never, trustOld).ok, false, edit.toString());
  }
  assert.equal(verifyRotationBundle(bundle, () => false).ok, false);
  assert.match(verifyRotationBundle(signRotationBundle(body, [oldSign]), trustOld).problems.join(), /new signing key did not sign/);
  // a changed wrap is caught by the AEAD even without the signature check
  const copy = structuredClone(bundle);
  const w = copy.enc!.wrapped[0]!;
  (copy.enc as unknown as { wrapped: unknown[] }).wrapped = [{ ...w, recipient: 'broker-2' }];
  assert.throws(() => unwrapKeyForRecipient(copy, { ...broker, id: 'broker-2' }), (e) => isAppError(e) && e.code === 'DECRYPT_FAILED');
  assert.throws(() => parseRotationBundle('{"format":"x"}'), (e) => isAppError(e) && e.code === 'VALIDATION');
});

void test('malformed bundles give problems, never exceptions', () => {
  const { oldSign, body } = setup();
  const bundle = signRotationBundle(body, [oldSign]);
  const cases: unknown[] = [
    { ...bundle, signatures: [null] },
    { ...bundle, signatures: [{ kid: 'x' }] },
    { ...bundle, signatures: 'nope' },
    { ...bundle, models: [{ path: 'a', tensors: 1.5, oldHeaderSha256: '', newHeaderSha256: '' }] },
    { ...bundle, sign: { ...body.sign, newPublicKey: 5 } },
  ];
  for (const c of cases) {
    const v = verifyRotationBundle(c as never, () => true);
    assert.equal(v.ok, false);
  }
});
