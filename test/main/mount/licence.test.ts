/**
 * Mounts keyed by the broker (app/node/mount/broker-keys.ts) against a real broker on 127.0.0.1 (SQLite): the
 * subscriber's key is released to its enrolled device, the personalized headers are applied in memory, the
 * licence guards every read — reads fail and the mount is taken down after a revocation at the broker or when the
 * licence expires.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from '../../../app/crypto/random.ts';
import { toHex } from '../../../app/crypto/encoding.ts';
import { parseSafetensors } from '../../../app/format/safetensors.ts';
import { enrollDevice, openDevice } from '../../../app/node/broker/profile.ts';
import { kekFromBytes } from '../../../app/node/broker/kek.ts';
import { startBroker } from '../../../app/node/broker/start.ts';
import { filePolicyEvaluator } from '../../../app/policy/file-policy.ts';
import { profileDevice, releaseFromBroker } from '../../../app/node/mount/broker-keys.ts';
import { MountManager } from '../../../app/node/mount/manager.ts';
import { publishFixture } from '../services/subscriber-fixture.ts';

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('broker-keyed mount: released key, personalized headers in memory, reads stop after revocation and after expiry', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mv-mount-licence-'));
  const env = { MODEL_VAULT_HOME: join(dir, 'home'), MODEL_VAULT_RUNTIME_DIR: join(dir, 'run'), MODEL_VAULT_STORE: 'file', MODEL_VAULT_PASSPHRASE: 'mount test pw', MODEL_VAULT_SCRYPT_LOG_N: '10' };
  const bootstrap = toHex(randomBytes(16));
  const broker = await startBroker({ dbSpec: join(dir, 'broker.sqlite'), kek: kekFromBytes(randomBytes(32)), bootstrapSecret: bootstrap });
  const manager = await MountManager.create({ env, owner: 'app' });
  try {
    const fx = await publishFixture(dir, broker.url, bootstrap, { modelId: 'acme-mount', mode: 'open' });
    const profilePath = join(dir, 'home', 'broker', 'device.json');
    const { profile } = await enrollDevice({ env, path: profilePath, brokerUrl: broker.url, name: 'Bob', role: 'subscriber', label: 'gpu box' });
    const device = await openDevice(profile, { env });
    let subscriptionId: string;
    try {
      subscriptionId = (await device.client.subscribe(fx.modelId)).subscriptionId;
    } finally {
      device.close();
    }
    const fetchShard = async (url: string, token: string, name: string) => fetch(`${url}files/${name}`, { headers: { authorization: `Bearer ${token}` } });

    // 1. Expiry, with a clock the test moves.
    let clock = Date.now();
    const first = await releaseFromBroker({ model: fx.packaged, modelId: fx.modelId, device: await profileDevice(env, profilePath), now: () => clock });
    assert.equal(first.subscriptionId, subscriptionId);
    assert.equal(first.headerOverrides.size, fx.shards.length, 'the producer copy gets the personalized headers in memory');
    const a = await manager.start({ model: fx.packaged, mode: 'http', keys: first.keys, guard: first.guard, headerOverrides: first.headerOverrides, policyEvaluator: filePolicyEvaluator });
    first.close();
    const token = manager.httpToken(a.id) ?? '';
    const shard = fx.shards[0] ?? '';
    const res = await fetchShard(a.url ?? '', token, shard);
    assert.equal(res.status, 200);
    const servedBytes = new Uint8Array(await res.arrayBuffer());
    const served = parseSafetensors(servedBytes);
    const plainBytes = new Uint8Array(readFileSync(join(dir, 'plain-model', shard)));
    const plain = parseSafetensors(plainBytes);
    assert.deepEqual(served.tensors.map((t) => t.name).sort(), plain.tensors.map((t) => t.name).sort());
    for (const t of served.tensors) {
      const p = plain.byName.get(t.name);
      assert.ok(p !== undefined);
      assert.deepEqual(servedBytes.subarray(served.dataStart + t.begin, served.dataStart + t.end), plainBytes.subarray(plain.dataStart + p.begin, plain.dataStart + p.end), t.name);
    }
    assert.equal(served.metadata?.has('__encryption__') ?? false, false, 'the crypto metadata is gone from the plain view');
    assert.ok(a.licence !== undefined);
    clock = (a.licence?.notAfter ?? 0) + (a.licence?.graceSeconds ?? 0) * 1000 + 1;
    const expired = await fetchShard(a.url ?? '', token, shard).catch(() => null);
    if (expired !== null) {
      assert.equal(expired.status, 403);
      assert.equal(((await expired.json()) as { error: { code: string } }).error.code, 'LICENCE_EXPIRED');
    }
    await waitFor('the expired mount to be taken down', () => manager.list().length === 0);
    assert.deepEqual(readdirSync(join(dir, 'run', 'mounts')), [], 'registry entry and token file removed');
    await assert.rejects(fetchShard(a.url ?? '', token, shard), 'the server is closed');

    // 2. Revocation at the broker, noticed by the revocation refresh.
    const second = await releaseFromBroker({ model: fx.packaged, modelId: fx.modelId, device: await profileDevice(env, profilePath), refreshMs: 100 });
    const b = await manager.start({ model: fx.packaged, mode: 'http', keys: second.keys, guard: second.guard, headerOverrides: second.headerOverrides, policyEvaluator: filePolicyEvaluator });
    second.close();
    const token2 = manager.httpToken(b.id) ?? '';
    assert.equal((await fetchShard(b.url ?? '', token2, shard)).status, 200);
    const d2 = await openDevice(profile, { env });
    try {
      await d2.client.revokeSubscription(subscriptionId, 'test revocation');
    } finally {
      d2.close();
    }
    await waitFor('the revoked mount to be taken down', () => manager.list().length === 0);
    await assert.rejects(fetchShard(b.url ?? '', token2, shard), 'no reads after revocation');
    // And a new mount is refused: the broker no longer releases the key.
    await assert.rejects(releaseFromBroker({ model: fx.packaged, modelId: fx.modelId, device: await profileDevice(env, profilePath) }), (e: unknown) => ['LICENCE_REVOKED', 'BROKER_REJECTED', 'AUTH_FAILED', 'NOT_FOUND'].includes((e as { code?: string }).code ?? ''));
  } finally {
    await manager.stopAll('shutdown');
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
