/**
 * Rotation bundles at the broker (README §10): a master-key rotation made offline (issue 5 bundle) is pushed with the
 * rewrapped headers; subscribers keep their keys and pick up new personalized headers as a sync. Bundles that are
 * unsigned by the model key, list other headers, or rotate the signing key are refused and audited.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError } from '../../../app/errors.ts';
import { ctEqual } from '../../../app/crypto/bytes.ts';
import { randomBytes } from '../../../app/crypto/random.ts';
import { bytesSource, openModelBytes } from '../../../app/format/reader.ts';
import { rewrapSource } from '../../../app/format/rewrap.ts';
import { signingKeyFromSeed } from '../../../app/format/keys.ts';
import { fingerprintOf, makeMasterKey, makeSigningKey } from '../../../app/keys/key.ts';
import { headerSha256, newBundleId, serializeRotationBundle, signRotationBundle, wrapKeyForRecipient, ROTATION_BUNDLE_FORMAT, type RotationBundleBody } from '../../../app/keys/rotation-bundle.ts';
import { auditOutcomes, enrollProducer, enrollSubscriber, headerOf, headersMap, makeModel, publish, sqliteTarget, startTestBroker } from './helpers.ts';

test('a pushed master-key rotation bundle re-personalizes subscribers; bad bundles are refused', { timeout: 120_000 }, async () => {
  const fresh = await sqliteTarget.fresh();
  const broker = await startTestBroker(fresh.spec);
  try {
    const s = await enrollProducer(broker);
    const model = makeModel();
    await publish(s, 'rot-1', model);
    const a = await enrollSubscriber(broker.url, 'A');
    await a.client.subscribe('rot-1');
    const before = await a.client.releaseKey('rot-1', headersMap(model), {}, a.device.box);

    // Offline rotation: new master key, headers rewrapped with the codec, a bundle signed by the model key.
    const info = await s.producer.client.info();
    const newRaw = randomBytes(32);
    const newKey = makeMasterKey('aes256gcm', newRaw, { kid: 'prod-enc-2' });
    const oldKey = makeMasterKey('aes256gcm', model.masterKey.key, { kid: 'prod-enc-1' });
    const signer = signingKeyFromSeed(model.signingSeed);
    const rotated = await Promise.all(model.files.map(async (f) => {
      const r = await rewrapSource(bytesSource(f.file), { old: { masterKeys: [model.masterKey], trustedSigners: [signer] }, masterKey: { alg: 'aes256gcm', kid: 'prod-enc-2', key: newRaw }, signingKey: signer });
      const file = new Uint8Array(r.header.length + r.dataLength);
      file.set(r.header, 0);
      file.set(f.file.subarray(r.oldDataStart), r.header.length);
      return { path: f.path, file, header: headerOf(file), old: f.header };
    }));
    const bundleId = newBundleId();
    const body: RotationBundleBody = {
      format: ROTATION_BUNDLE_FORMAT, version: 1 as const, bundleId, createdAt: new Date().toISOString(),
      enc: { oldKid: 'prod-enc-1', oldFingerprint: fingerprintOf(oldKey), newKid: 'prod-enc-2', newFingerprint: fingerprintOf(newKey), alg: 'aes256gcm' as const, wrapped: [wrapKeyForRecipient(newKey, bundleId, { id: info.brokerId, publicKey: s.brokerBoxPub })] },
      models: rotated.map((r) => ({ path: r.path, tensors: 2, oldHeaderSha256: headerSha256(r.old), newHeaderSha256: headerSha256(r.header) })),
    };
    const modelSigner = makeSigningKey({ seed: model.signingSeed }, { kid: 'prod-sign-1' });
    const bundle = serializeRotationBundle(signRotationBundle(body, [modelSigner]));

    // Refused: signed by another key; a header the bundle does not list.
    const stranger = makeSigningKey({ seed: randomBytes(32) }, { kid: 'stranger' });
    await assert.rejects(s.producer.client.pushRotation('rot-1', serializeRotationBundle(signRotationBundle(body, [stranger])), rotated), (e: unknown) => isAppError(e) && e.code === 'BAD_SIGNATURE');
    await assert.rejects(s.producer.client.pushRotation('rot-1', bundle, model.files), (e: unknown) => isAppError(e) && e.code === 'MANIFEST_MISMATCH');
    // A subscriber cannot push rotations.
    await assert.rejects(a.client.pushRotation('rot-1', bundle, rotated), (e: unknown) => isAppError(e) && e.code === 'NOT_FOUND');

    const r = await s.producer.client.pushRotation('rot-1', bundle, rotated);
    assert.equal(r.resubscribed, 1);
    // The subscriber keeps its key; its cached personalized headers are now stale and get synced.
    const after = await a.client.releaseKey('rot-1', before.synced, {}, a.device.box);
    assert.ok(ctEqual(after.key, before.key));
    assert.equal(after.synced.size, 2);
    for (const f of rotated) {
      const personal = after.synced.get(f.path);
      assert.ok(personal !== undefined);
      const h = await openModelBytes(Uint8Array.from([...personal, ...f.file.subarray(f.header.length)]), { masterKeys: [{ alg: after.alg, kid: after.kid, key: after.key }], trustedSigners: [{ publicKey: after.verifyKey }] });
      for (const name of h.keys()) assert.deepEqual((await h.getTensor(name)).data, model.plain.get(name));
      await h.close();
    }
    assert.deepEqual(await auditOutcomes(broker.server.service.db, 'model.rotate'), ['BAD_SIGNATURE', 'MANIFEST_MISMATCH', 'NOT_FOUND', 'allow']);
  } finally {
    await broker.close();
    await fresh.cleanup();
  }
});
