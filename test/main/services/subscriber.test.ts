/**
 * The subscriber services (app/node/services/subscriber.ts) called through the router against a real broker on
 * 127.0.0.1 (SQLite) and a real key store (the keychain under D-Bus, else the encrypted file keystore): enroll →
 * subscribe (approval) → licence → import with personalized headers → verify (key release, every tensor decrypted,
 * signer trusted through the broker, licence valid); a cancelled import leaves nothing; a tampered copy fails; the
 * broker going away shows the cached licences; revoking this device forgets the enrollment. No key bytes in any
 * answer.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Channel, Result } from '../../../app/ipc/contract.ts';
import type { ImportedModel, LicenceRow, SubscriberIdentity, SubscriberLicences, SubscriberVerifyView } from '../../../app/ipc/ops/subscriber.ts';
import { loadConfig } from '../../../app/node/config.ts';
import { createRouter } from '../../../app/node/router.ts';
import { BrokerSession } from '../../../app/node/services/broker-session.ts';
import { createHandlers } from '../../../app/node/services/index.ts';
import { headerBytesOf } from '../../../app/format/safetensors.ts';
import { BOOTSTRAP, sqliteTarget, startTestBroker, testKek } from '../broker/helpers.ts';
import { publishFixture } from './subscriber-fixture.ts';

const keychain = process.env.DBUS_SESSION_BUS_ADDRESS !== undefined;

test('subscriber services: enroll → licence → import → verify, offline, revoke', { timeout: 120_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'mv-sub-'));
  const db = await sqliteTarget.fresh();
  const kek = testKek();
  let broker = await startTestBroker(db.spec, { kek });
  const env = { MODEL_VAULT_HOME: home, MODEL_VAULT_BROKER_URL: broker.url, MODEL_VAULT_PASSPHRASE: 'subscriber test pw', MODEL_VAULT_SCRYPT_LOG_N: '10', MODEL_VAULT_TRUST: join(home, 'trust.json') };
  const config = loadConfig(env);
  const session = new BrokerSession({ config, env });
  const router = createRouter(createHandlers({ config, host: 'web', env, brokerSession: session, probeKeychain: async () => ({ available: keychain, backend: 'test' }) }));
  const answers: string[] = [];
  async function call<T>(channel: Channel, request: Record<string, unknown>): Promise<T> {
    const r = (await router.dispatch(channel, request)) as Result<T>;
    answers.push(JSON.stringify(r));
    if (!r.ok) throw Object.assign(new Error(r.error.message), { code: r.error.code });
    return r.value;
  }
  let seq = 0;
  const taskId = (): string => (++seq).toString(16).padStart(16, '0');
  try {
    // The producer side: enroll, publish an approval-mode model; its ciphertext folder is what the subscriber drops.
    const model = await publishFixture(home, broker.url, BOOTSTRAP, { mode: 'approval' });
    const dropped = model.packaged;
    const shard0 = model.shards[0] ?? '';
    const shard1 = model.shards[1] ?? '';
    const producerHeader = headerBytesOf(new Uint8Array(readFileSync(join(dropped, shard0))));

    const before = await call<SubscriberIdentity>('subscriber:identity', {});
    assert.equal(before.enrolled, null);
    assert.equal(before.broker.mode, 'remote');
    await assert.rejects(call('subscriber:licences', {}), (e: { code?: string }) => e.code === 'NOT_FOUND');

    const id = await call<SubscriberIdentity>('subscriber:enroll', { name: 'Bob', label: 'workstation' });
    assert.ok(id.enrolled !== null);
    assert.equal(id.enrolled.keyStore, keychain ? 'keychain' : 'file');
    const deviceId = id.enrolled.deviceId;

    const pending = await call<LicenceRow>('subscriber:subscribe', { modelId: 'acme-7b' });
    assert.equal(pending.status, 'pending');
    assert.equal(pending.verdict, 'none');
    await assert.rejects(call('subscriber:import', { taskId: taskId(), source: { kind: 'paths', paths: [dropped] }, subscriptionId: pending.subscriptionId }), (e: { code?: string; message: string }) => e.code === 'LICENCE_INVALID' && /approval/.test(e.message));

    await model.producer.approve(pending.subscriptionId);
    const lic = await call<SubscriberLicences>('subscriber:licences', {});
    assert.equal(lic.offline, false);
    const row = lic.licences.find((l) => l.subscriptionId === pending.subscriptionId);
    assert.equal(row?.status, 'active');
    assert.equal(row?.verdict, 'valid');
    assert.ok((row?.notAfter ?? 0) > Date.now());
    assert.deepEqual(row?.devices, [{ deviceId, thisDevice: true }]);

    // A cancelled import leaves nothing behind.
    const cancelled = new AbortController();
    cancelled.abort();
    const r = await router.dispatch('subscriber:import', { taskId: taskId(), source: { kind: 'paths', paths: [dropped] }, subscriptionId: pending.subscriptionId }, cancelled.signal);
    assert.equal(r.ok, false);
    assert.deepEqual(readdirSync(join(home, 'subscriber', 'models')), []);

    const imported = await call<ImportedModel>('subscriber:import', { taskId: taskId(), source: { kind: 'paths', paths: [dropped] }, subscriptionId: pending.subscriptionId });
    assert.equal(imported.origin, 'broker');
    assert.equal(imported.modelId, 'acme-7b');
    assert.deepEqual([...imported.files].sort(), readdirSync(dropped, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name).slice(dropped.length + 1)).sort());
    // The copy carries the personalized headers, not the producer's.
    const copied = new Uint8Array(readFileSync(join(imported.path, shard0)));
    assert.ok(!Buffer.from(headerBytesOf(copied)).equals(Buffer.from(producerHeader)));
    assert.deepEqual((await call<ImportedModel[]>('subscriber:models', {})).map((m) => m.localId), [imported.localId]);

    const v = await call<SubscriberVerifyView>('subscriber:verify', { taskId: taskId(), localId: imported.localId });
    assert.equal(v.report.ok, true, JSON.stringify(v.report.problems));
    assert.equal(v.report.decrypted, true);
    assert.equal(v.report.signature, 'valid');
    assert.equal(v.report.signer?.trust, 'trusted');
    assert.match(v.report.signer?.scope ?? '', /^broker:/);
    assert.equal(v.report.digests.checked, v.report.digests.total);
    assert.equal(v.licence?.verdict, 'valid');
    assert.equal(v.licence?.keyRelease, 'granted');
    assert.equal(v.licence?.thisDevice, true);
    assert.equal((await call<ImportedModel[]>('subscriber:models', {}))[0]?.lastVerified?.ok, true);

    // The producer's original (not personalized) copy imported as a plain file: header-only, signer unknown.
    const plain = await call<ImportedModel>('subscriber:import', { taskId: taskId(), source: { kind: 'paths', paths: [join(dropped, shard0)] } });
    const pv = await call<SubscriberVerifyView>('subscriber:verify', { taskId: taskId(), localId: plain.localId });
    assert.equal(pv.licence, null);
    assert.equal(pv.report.decrypted, false);
    assert.equal(await call<{ removed: boolean }>('subscriber:remove', { localId: plain.localId }).then((x) => x.removed), true);
    assert.ok(!existsSync(join(home, 'subscriber', 'models', plain.localId)));

    // A flipped byte in the tensor data is caught.
    const shard = join(imported.path, shard1);
    const bytes = readFileSync(shard);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] ?? 0) ^ 1;
    writeFileSync(shard, bytes);
    const bad = await call<SubscriberVerifyView>('subscriber:verify', { taskId: taskId(), localId: imported.localId });
    assert.equal(bad.report.ok, false);

    // The broker goes away: the cached licence is shown, offline.
    await broker.close();
    const off = await call<SubscriberLicences>('subscriber:licences', {});
    assert.equal(off.offline, true);
    assert.equal(off.licences[0]?.verdict, 'valid');
    const offVerify = await call<SubscriberVerifyView>('subscriber:verify', { taskId: taskId(), localId: imported.localId });
    assert.equal(offVerify.licence?.keyRelease, 'offline');

    // Back online: revoke this device; the enrollment is forgotten and its key deleted.
    broker = await startTestBroker(db.spec, { kek, port: Number(new URL(env.MODEL_VAULT_BROKER_URL).port) });
    const after = await call<SubscriberIdentity>('subscriber:revokeDevice', { deviceId });
    assert.equal(after.enrolled, null);
    assert.ok(!existsSync(join(home, 'broker', 'subscriber.json')));

    // Nothing secret in any answer.
    const all = answers.join('\n');
    for (const secret of [model.masterKey.key, model.signingSeed]) {
      for (const enc of ['hex', 'base64', 'base64url'] as const) assert.ok(!all.includes(Buffer.from(secret).toString(enc)), 'a key leaked into an answer');
    }
  } finally {
    await session.close();
    await broker.close().catch(() => undefined);
    await db.cleanup();
    rmSync(home, { recursive: true, force: true });
  }
});
