/**
 * Broker security properties (issue 6 "Must hold"), against a real broker on 127.0.0.1: SQLite always, PostgreSQL
 * when MV_PG_URL is set. Subscriber isolation; revoked, expired, wrong-device, replayed, tampered and unsigned
 * requests are denied and audited; no valid ticket, no key; the audit chain verifies.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError } from '../../../app/errors.ts';
import { ctEqual } from '../../../app/crypto/bytes.ts';
import { ed25519PublicKey } from '../../../app/crypto/ed25519.ts';
import { randomBytes } from '../../../app/crypto/random.ts';
import { checkLicenceOffline, newerRevocationList, verifyRevocationList } from '../../../app/broker/documents.ts';
import { verifyAuditChain } from '../../../app/broker/audit-chain.ts';
import { openModelBytes } from '../../../app/format/reader.ts';
import { readAuditChain, verifyBrokerAudit } from '../../../app/node/broker/service.ts';
import type { RunningBroker } from '../../../app/node/broker/start.ts';
import {
  auditOutcomes, PG_SKIP_REASON, TARGETS, clientFor, enrollProducer, enrollSubscriber, headersMap, makeModel, newDevice, pgTarget, publish, rawRequest, startTestBroker,
  type Scenario, type TestModel,
} from './helpers.ts';

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isAppError(e), `expected an AppError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The model's release policy (Model Vault mode, app/policy/README.md input document). */
const POLICY = [
  'package modelvault',
  'import rego.v1',
  'default allow := false',
  'allow if input.runtime.os == "linux"',
  'allow if input.device.platform == "dgx"',
  'deny contains "offline runtimes are not allowed" if input.runtime.offline == true',
  'deny contains "wrong action" if input.action != "decrypt"',
].join('\n');

if (pgTarget === undefined) test('broker security on PostgreSQL', { skip: PG_SKIP_REASON }, () => undefined);

for (const target of TARGETS) {
  describe(`broker security (${target.name})`, () => {
    const clock = { offset: 0 };
    const now = (): number => Date.now() + clock.offset;
    let broker: RunningBroker;
    let cleanup: () => Promise<void>;
    let s: Scenario;
    let model: TestModel;

    before(async () => {
      const fresh = await target.fresh();
      cleanup = fresh.cleanup;
      broker = await startTestBroker(fresh.spec, { now });
      s = await enrollProducer(broker, now);
      model = makeModel({ remote: POLICY });
      await publish(s, 'llm-1', model);
    });
    after(async () => {
      await broker.close();
      await cleanup();
    });

    async function auditResults(action: string): Promise<string[]> {
      return auditOutcomes(broker.server.service.db, action);
    }

    test('producer → subscriber → key release opens the personalized model', async () => {
      const a = await enrollSubscriber(broker.url, 'Alice', now);
      const sub = await a.client.subscribe('llm-1');
      assert.equal(sub.status, 'active');
      assert.ok(sub.licence !== null);
      const released = await a.client.releaseKey('llm-1', headersMap(model), { os: 'linux' }, a.device.box);
      assert.equal(released.synced.size, 2, 'the producer headers are replaced by personalized ones');
      assert.ok(!ctEqual(released.key, model.masterKey.key), 'the subscriber key is not the producer key');
      for (const f of model.files) {
        const personal = released.synced.get(f.path);
        assert.ok(personal !== undefined);
        const h = await openModelBytes(concat(personal, f.file.subarray(f.header.length)), { masterKeys: [{ alg: released.alg, kid: released.kid, key: released.key }], trustedSigners: [{ publicKey: released.verifyKey }] });
        for (const name of h.keys()) assert.deepEqual((await h.getTensor(name)).data, model.plain.get(name));
        await h.close();
      }
      // With the synced headers the next release matches at once.
      const again = await a.client.releaseKey('llm-1', released.synced, { os: 'linux' }, a.device.box);
      assert.equal(again.synced.size, 0);
      assert.ok(ctEqual(again.key, released.key));
    });

    test('subscriber A never obtains B’s key, headers, ticket or subscription', async () => {
      const a = await enrollSubscriber(broker.url, 'A', now);
      const b = await enrollSubscriber(broker.url, 'B', now);
      const subA = await a.client.subscribe('llm-1');
      const subB = await b.client.subscribe('llm-1');
      const keyA = await a.client.releaseKey('llm-1', headersMap(model), { os: 'linux' }, a.device.box);
      const keyB = await b.client.releaseKey('llm-1', headersMap(model), { os: 'linux' }, b.device.box);
      assert.ok(!ctEqual(keyA.key, keyB.key));
      // A's key opens nothing of B's.
      const f = model.files[0];
      assert.ok(f !== undefined);
      const headerB = keyB.synced.get(f.path);
      assert.ok(headerB !== undefined);
      await rejects(openModelBytes(concat(headerB, f.file.subarray(f.header.length)), { masterKeys: [{ alg: keyA.alg, key: keyA.key }], trustedSigners: [{ publicKey: keyA.verifyKey }] }), 'DECRYPT_FAILED');
      // B's headers, subscription and revocation are out of A's reach.
      await rejects(a.client.headers(subB.subscriptionId), 'NOT_FOUND');
      await rejects(a.client.revokeSubscription(subB.subscriptionId, 'hostile'), 'NOT_FOUND');
      await rejects(a.client.addSubscriptionDevice(subB.subscriptionId, a.device.signer.deviceId), 'NOT_FOUND');
      const syncA = await a.client.sync();
      assert.deepEqual(syncA.subscriptions.map((x) => x.subscriptionId), [subA.subscriptionId]);
      // B's ticket is useless to A (bound to B's device), and A's own headers never equal B's.
      const c = await b.client.challenge('llm-1');
      const tB = await b.client.attest(c, 'llm-1', { os: 'linux' });
      await rejects(a.client.requestKey(tB.ticketB64u, {}), 'AUTH_FAILED');
      const hA = await a.client.headers(subA.subscriptionId);
      const hB = await b.client.headers(subB.subscriptionId);
      for (const x of hA.headers) assert.ok(!hB.headers.some((y) => y.sha256 === x.sha256));
      // A cannot read the producer's audit.
      await rejects(a.client.audit('llm-1'), 'NOT_FOUND');
    });

    test('revoked subscriptions are denied online and offline at the next sync', async () => {
      const a = await enrollSubscriber(broker.url, 'Revoked', now);
      const sub = await a.client.subscribe('llm-1');
      const cached = sub.licence;
      assert.ok(cached !== null);
      const first = await a.client.sync();
      // Attest, then revoke before the key: the key step re-checks.
      const c = await a.client.challenge('llm-1');
      const t = await a.client.attest(c, 'llm-1', { os: 'linux' });
      await s.producer.client.revokeSubscription(sub.subscriptionId, 'payment failed');
      await rejects(a.client.requestKey(t.ticketB64u, {}), 'AUTH_FAILED');
      await rejects(a.client.releaseKey('llm-1', headersMap(model), { os: 'linux' }, a.device.box), 'LICENCE_REVOKED');
      await rejects(a.client.headers(sub.subscriptionId), 'LICENCE_INVALID');
      // Offline: valid with the old list, revoked with the new one; an older list is refused afterwards.
      const brokerPub = s.brokerSignPub;
      const oldList = verifyRevocationList(first.revocations, brokerPub);
      assert.equal(checkLicenceOffline(cached, { brokerPub, deviceId: a.device.signer.deviceId, now: now(), revocations: oldList }).verdict, 'valid');
      const newList = newerRevocationList(oldList, verifyRevocationList((await a.client.sync()).revocations, brokerPub));
      assert.throws(() => checkLicenceOffline(cached, { brokerPub, deviceId: a.device.signer.deviceId, now: now(), revocations: newList }), (e: unknown) => isAppError(e) && e.code === 'LICENCE_REVOKED');
      assert.throws(() => newerRevocationList(newList, oldList), (e: unknown) => isAppError(e) && e.code === 'LICENCE_INVALID');
      assert.ok((await auditResults('release.attest')).includes('LICENCE_REVOKED'));
    });

    test('expired subscriptions are denied; offline licences last until expiry plus grace', async () => {
      const m2 = makeModel();
      await publish(s, 'short-1', m2, { durationDays: 1, graceDays: 2 });
      const a = await enrollSubscriber(broker.url, 'Expiring', now);
      const sub = await a.client.subscribe('short-1');
      assert.ok(sub.licence !== null);
      const brokerPub = s.brokerSignPub;
      const deviceId = a.device.signer.deviceId;
      const day = 86_400_000;
      assert.equal(checkLicenceOffline(sub.licence, { brokerPub, deviceId, now: now() + 1.5 * day }).verdict, 'grace');
      assert.throws(() => checkLicenceOffline(sub.licence, { brokerPub, deviceId, now: now() + 3.5 * day }), (e: unknown) => isAppError(e) && e.code === 'LICENCE_EXPIRED');
      const tampered = { ...sub.licence, notAfter: sub.licence.notAfter + 365 * day };
      assert.throws(() => checkLicenceOffline(tampered, { brokerPub, deviceId, now: now() }), (e: unknown) => isAppError(e) && e.code === 'LICENCE_INVALID');
      clock.offset = 2 * day;
      try {
        await rejects(a.client.releaseKey('short-1', headersMap(m2), {}, a.device.box), 'LICENCE_EXPIRED');
      } finally {
        clock.offset = 0;
      }
      assert.ok((await auditResults('release.attest')).includes('LICENCE_EXPIRED'));
    });

    test('a device not on the licence is denied; the device limit holds', async () => {
      const a = await enrollSubscriber(broker.url, 'TwoDevices', now);
      const sub = await a.client.subscribe('llm-1');
      const second = newDevice();
      const secondClient = clientFor(broker.url, second, now);
      await a.client.addDevice(second.signer.signPub, second.box.publicKey, 'second');
      await rejects(secondClient.releaseKey('llm-1', headersMap(model), { os: 'linux' }, second.box), 'LICENCE_INVALID');
      assert.ok((await auditResults('release.attest')).includes('LICENCE_INVALID'));
      const updated = await a.client.addSubscriptionDevice(sub.subscriptionId, second.signer.deviceId);
      assert.equal(updated.devices.length, 2);
      assert.ok(updated.licence?.devices.includes(second.signer.deviceId));
      const k = await secondClient.releaseKey('llm-1', headersMap(model), { os: 'linux' }, second.box);
      assert.equal(k.key.length, 32);
      const third = newDevice();
      await a.client.addDevice(third.signer.signPub, third.box.publicKey, 'third');
      await rejects(a.client.addSubscriptionDevice(sub.subscriptionId, third.signer.deviceId), 'LIMIT_EXCEEDED');
      // A wrapped key for one device does not open with another device's box key.
      await rejects(a.client.releaseKey('llm-1', headersMap(model), { os: 'linux' }, second.box), 'DECRYPT_FAILED');
      // A revoked device is refused outright.
      await a.client.revokeDevice(second.signer.deviceId);
      await rejects(secondClient.sync(), 'AUTH_FAILED');
    });

    test('replayed, stale, tampered and unsigned requests are denied and audited', async () => {
      const a = await enrollSubscriber(broker.url, 'Raw', now);
      const d = a.device;
      const ok = await rawRequest(broker.url, d, 'POST', '/v1/release/challenge', { modelId: 'llm-1' });
      assert.equal(ok.status, 200);
      // Replay: the exact same signed request again.
      const body = { modelId: 'llm-1' };
      const bytes = new TextEncoder().encode(JSON.stringify(body));
      const { signRequest } = await import('../../../app/broker/request-signing.ts');
      const headers = signRequest(d.signer, 'POST', '/v1/release/challenge', bytes, now());
      assert.equal((await rawRequest(broker.url, d, 'POST', '/v1/release/challenge', body, { headers })).status, 200);
      const replay = await rawRequest(broker.url, d, 'POST', '/v1/release/challenge', body, { headers });
      assert.equal(replay.status, 409);
      assert.equal(replay.json.error?.code, 'REPLAY_DETECTED');
      // Stale timestamp.
      const stale = await rawRequest(broker.url, d, 'POST', '/v1/release/challenge', body, { timestamp: now() - 5 * 60_000 });
      assert.equal(stale.json.error?.code, 'REPLAY_DETECTED');
      // Tampered body and path.
      const tb = await rawRequest(broker.url, d, 'POST', '/v1/subscriptions', { modelId: 'llm-1' }, { alterBody: (t) => t.replace('llm-1', 'short-1') });
      assert.equal(tb.status, 401);
      assert.equal(tb.json.error?.code, 'AUTH_FAILED');
      const tp = await rawRequest(broker.url, d, 'GET', '/v1/sync', undefined, { alterPath: '/v1/producer/subscriptions' });
      assert.equal(tp.json.error?.code, 'AUTH_FAILED');
      // Unsigned, and signed by an unknown device.
      const un = await rawRequest(broker.url, d, 'GET', '/v1/sync', undefined, { unsigned: true });
      assert.equal(un.status, 401);
      assert.equal(un.json.error?.code, 'AUTH_FAILED');
      const stranger = await rawRequest(broker.url, newDevice(), 'GET', '/v1/sync', undefined);
      assert.equal(stranger.json.error?.code, 'AUTH_FAILED');
      const denials = await auditResults('request.auth');
      assert.ok(denials.filter((r) => r === 'REPLAY_DETECTED').length >= 2);
      assert.ok(denials.filter((r) => r === 'AUTH_FAILED').length >= 4);
    });

    test('a device without a valid ticket gets nothing', async () => {
      const a = await enrollSubscriber(broker.url, 'NoTicket', now);
      await a.client.subscribe('llm-1');
      const hashes = Object.fromEntries([...headersMap(model)].map(([p]) => [p, 'f'.repeat(64)]));
      await rejects(a.client.requestKey(Buffer.alloc(32, 7).toString('base64url'), hashes), 'AUTH_FAILED');
      // A used ticket cannot be used again; an expired one neither.
      const r = await a.client.releaseKey('llm-1', headersMap(model), { os: 'linux' }, a.device.box);
      const personal = r.synced;
      const c = await a.client.challenge('llm-1');
      const t = await a.client.attest(c, 'llm-1', { os: 'linux' });
      const { headerHash } = await import('../../../app/broker/client.ts');
      const good = Object.fromEntries([...personal].map(([p, h]) => [p, headerHash(h)]));
      const first = await a.client.requestKey(t.ticketB64u, good);
      assert.equal(first.status, 'ok');
      await rejects(a.client.requestKey(t.ticketB64u, good), 'AUTH_FAILED');
      const c2 = await a.client.challenge('llm-1');
      const t2 = await a.client.attest(c2, 'llm-1', { os: 'linux' });
      clock.offset = 5 * 60_000;
      try {
        await rejects(a.client.requestKey(t2.ticketB64u, good), 'AUTH_FAILED');
      } finally {
        clock.offset = 0;
      }
      // A challenge is single use.
      const c3 = await a.client.challenge('llm-1');
      await a.client.attest(c3, 'llm-1', { os: 'linux' });
      await rejects(a.client.attest(c3, 'llm-1', { os: 'linux' }), 'AUTH_FAILED');
      // Tampered local headers: the broker answers with the headers to sync, never the key.
      const c4 = await a.client.challenge('llm-1');
      const t4 = await a.client.attest(c4, 'llm-1', { os: 'linux' });
      const r4 = await a.client.requestKey(t4.ticketB64u, hashes);
      assert.equal(r4.status, 'sync');
      assert.ok(!('wrappedKey' in r4));
      assert.ok((await auditResults('release.key')).includes('AUTH_FAILED'));
    });

    test('the Rego release policy (Model Vault mode) decides on the runtime facts, with deny reasons', async () => {
      const a = await enrollSubscriber(broker.url, 'Policy', now);
      await a.client.subscribe('llm-1');
      await rejects(a.client.releaseKey('llm-1', headersMap(model), { os: 'windows', platform: 'pc' }, a.device.box), 'POLICY_DENIED');
      await assert.rejects(a.client.releaseKey('llm-1', headersMap(model), { os: 'linux', offline: true }, a.device.box), (e: unknown) => isAppError(e) && e.code === 'POLICY_DENIED' && e.message.includes('offline runtimes are not allowed'));
      const k = await a.client.releaseKey('llm-1', headersMap(model), { platform: 'dgx' }, a.device.box);
      assert.equal(k.key.length, 32);
      assert.ok((await auditResults('release.attest')).includes('POLICY_DENIED'));
    });

    test('enrollment: bootstrap once, invites single use, producers only by invite', async () => {
      const late = newDevice();
      await rejects(clientFor(broker.url, late, now).enroll({ name: 'Intruder', role: 'producer', label: 'x', boxPub: late.box.publicKey, bootstrap: 'bootstrap-secret-for-tests-only' }), 'BROKER_REJECTED');
      await rejects(clientFor(broker.url, late, now).enroll({ name: 'Intruder', role: 'producer', label: 'x', boxPub: late.box.publicKey }), 'AUTH_FAILED');
      const inv = await s.producer.client.createInvite('producer');
      await clientFor(broker.url, late, now).enroll({ name: 'Second producer', role: 'producer', label: 'x', boxPub: late.box.publicKey, invite: inv.invite });
      const other = newDevice();
      await rejects(clientFor(broker.url, other, now).enroll({ name: 'Reuse', role: 'producer', label: 'x', boxPub: other.box.publicKey, invite: inv.invite }), 'AUTH_FAILED');
      // The second producer cannot take over the first one's model id or read its audit.
      await rejects(clientFor(broker.url, late, now).audit('llm-1'), 'NOT_FOUND');
    });

    test('approval mode: pending until the producer approves', async () => {
      const m3 = makeModel();
      await publish(s, 'gated-1', m3, { mode: 'approval' });
      const a = await enrollSubscriber(broker.url, 'Gated', now);
      const sub = await a.client.subscribe('gated-1');
      assert.equal(sub.status, 'pending');
      assert.equal(sub.licence, null);
      await rejects(a.client.releaseKey('gated-1', headersMap(m3), {}, a.device.box), 'LICENCE_INVALID');
      await rejects(a.client.approve(sub.subscriptionId), 'BROKER_REJECTED');
      const pending = await s.producer.client.producerSubscriptions();
      assert.ok(pending.subscriptions.some((x) => x.subscriptionId === sub.subscriptionId && x.status === 'pending'));
      const ok = await s.producer.client.approve(sub.subscriptionId);
      assert.equal(ok.status, 'active');
      const k = await a.client.releaseKey('gated-1', headersMap(m3), {}, a.device.box);
      assert.equal(k.key.length, 32);
    });

    test('the producer reads its model audit chain and verifies it against the broker key; the whole log verifies', async () => {
      const info = await s.producer.client.info();
      const brokerSignPub = new Uint8Array(Buffer.from(info.signPubB64u, 'base64url'));
      const entries = (await s.producer.client.audit('llm-1')).entries;
      assert.ok(entries.length > 5);
      assert.ok(entries.every((e) => e.details?.model === 'llm-1'));
      assert.ok(entries.some((e) => e.result === 'ok') && entries.some((e) => e.result === 'denied'));
      // The client pages through the chain and checks it with the app's verifier: complete and signed to the end.
      const checked = await s.producer.client.auditVerified('llm-1', brokerSignPub);
      assert.equal(checked.report.ok, true, JSON.stringify(checked.report.problems));
      assert.equal(checked.report.unsignedTail, 0);
      assert.ok(checked.report.checkpoints >= 1);
      await rejects(s.producer.client.auditVerified('llm-1', ed25519PublicKey(randomBytes(32))), 'AUDIT_TAMPERED');
      const all = [];
      for await (const e of readAuditChain(broker.server.service.db)) all.push(e);
      const verdict = verifyAuditChain(all, { brokerSignPub });
      assert.equal(verdict.ok, true, JSON.stringify(verdict));
      assert.ok(verdict.ok && verdict.chains.some((c) => c.chain === 'broker') && verdict.chains.some((c) => c.chain === 'model:llm-1'));
      const stored = await verifyBrokerAudit(broker.server.service.db, { brokerSignPub });
      assert.equal(stored.ok, true);
      // An edited entry is detected where it is.
      const victim = all.find((e) => e.details?.model === 'llm-1' && e.seq === 3);
      assert.ok(victim !== undefined);
      const edited = all.map((e) => (e === victim ? { ...e, result: e.result === 'ok' ? ('denied' as const) : ('ok' as const) } : e));
      const bad = verifyAuditChain(edited);
      assert.equal(bad.ok, false);
      assert.equal(!bad.ok && `${bad.chain}#${bad.seq}`, 'model:llm-1#3');
      // Nothing secret in the log: no producer key, in any common encoding.
      const text = JSON.stringify(all);
      for (const enc of ['hex', 'base64', 'base64url'] as const) assert.ok(!text.includes(Buffer.from(model.masterKey.key).toString(enc)));
    });

    test('database theft reveals no key: producer, subscriber and broker keys are sealed under the KEK', async () => {
      const a = await enrollSubscriber(broker.url, 'Thief', now);
      await a.client.subscribe('llm-1');
      const k = await a.client.releaseKey('llm-1', headersMap(model), { os: 'linux' }, a.device.box);
      const dump: string[] = [];
      for (const table of ['secrets', 'models', 'model_files', 'personal_headers', 'licences', 'audit_entries', 'tickets', 'challenges', 'identities', 'devices']) {
        dump.push(JSON.stringify(await broker.server.service.db.all(`SELECT * FROM ${table}`)));
      }
      const text = dump.join('\n');
      for (const key of [model.masterKey.key, model.signingSeed, k.key]) {
        for (const enc of ['hex', 'base64', 'base64url'] as const) assert.ok(!text.includes(Buffer.from(key).toString(enc)), `a key appears in the database (${enc})`);
      }
    });
  });
}

describe('rate limits', () => {
  test('per identity token bucket', async () => {
    const target = TARGETS[0];
    assert.ok(target !== undefined);
    const fresh = await target.fresh();
    const broker = await startTestBroker(fresh.spec, { ratePerSecond: 0.001, rateBurst: 3 });
    try {
      const a = await enrollSubscriber(broker.url, 'Flood');
      await a.client.sync();
      await a.client.sync();
      await a.client.sync();
      await rejects(a.client.sync(), 'RATE_LIMITED');
      assert.deepEqual((await auditOutcomes(broker.server.service.db, 'request.auth')).filter((x) => x === 'RATE_LIMITED'), ['RATE_LIMITED']);
    } finally {
      await broker.close();
      await fresh.cleanup();
    }
  });
});
